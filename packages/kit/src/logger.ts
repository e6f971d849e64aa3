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

/**
 * The process logger: JSON lines with secrets redacted, each tagged with the
 * service that wrote it. The embedded mode passes no `service` and tags its
 * five children instead (a key given twice would appear twice in the line).
 */
export function createLogger(options: { level: string; service?: string }): Logger {
  return pino({
    level: options.level,
    redact: { paths: REDACT, censor: '[redacted]' },
    base: options.service ? { service: options.service } : { mode: 'embedded' },
  });
}
