import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Fields that must never reach a log line. */
const REDACT = [
  'password',
  'current_password',
  'new_password',
  'refresh_token',
  'access_token',
  'token',
  'secret',
  'body.code',
  'body.recovery_code',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  '*.password',
  '*.refresh_token',
  '*.access_token',
];

/** The process logger: JSON lines with secrets redacted. */
export function createLogger(options: { level: string; name: string }): Logger {
  return pino({
    name: options.name,
    level: options.level,
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { service: options.name },
  });
}
