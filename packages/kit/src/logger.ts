import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Fields that must never reach a log line: credentials, one-time and MFA
 * tokens, codes, TOTP secrets, cookies, and mail bodies (they carry links with
 * live tokens). Each name is redacted at the top of a logged object and inside
 * the objects that carry payloads (`{ body: { code } }`, `{ mail: { text } }`).
 * The paths are spelled out rather than `*.name`: pino's wildcard paths cost
 * every child logger (one per bus message) and every line several times more.
 */
const SECRET_FIELDS = [
  'password',
  'current_password',
  'new_password',
  'refresh_token',
  'access_token',
  'token',
  'mfa_token',
  'secret',
  'otpauth_url',
  'code',
  'recovery_code',
  'recovery_codes',
  'sealed_private',
  'link',
  'text',
  'html',
  'authorization',
  'cookie',
];
/** Where payloads are logged: a request body, a bus message, a mail, its variables. */
const PAYLOADS = [
  'body',
  'data',
  'payload',
  'input',
  'm',
  'msg',
  'message',
  'mail',
  'vars',
  'job',
  'job.vars',
  'query',
];
/** Names that are not identifiers: bracket syntax. */
const SECRET_HEADERS = ['authorization', 'cookie', '["set-cookie"]', '["x-api-key"]'];
const HEADER_HOLDERS = ['', 'req', 'res', 'request', 'reply', 'response'];
const at = (prefix: string, name: string) => (name.startsWith('[') ? `${prefix}${name}` : `${prefix}.${name}`);
const REDACT = [
  // `err` is not a payload: an error's code (`ECONNREFUSED`) stays readable.
  ...SECRET_FIELDS,
  ...PAYLOADS.flatMap((parent) => SECRET_FIELDS.map((f) => `${parent}.${f}`)),
  ...HEADER_HOLDERS.flatMap((holder) => SECRET_HEADERS.map((h) => at(holder ? `${holder}.headers` : 'headers', h))),
];

/**
 * The process logger: JSON lines with secrets redacted, each tagged with the
 * service that wrote it. The embedded mode passes no `service` and tags its
 * five children instead (a key given twice would appear twice in the line).
 */
export function createLogger(options: { level: string; service?: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      redact: { paths: REDACT, censor: '[redacted]' },
      base: options.service ? { service: options.service } : { mode: 'embedded' },
    },
    options.destination,
  );
}
