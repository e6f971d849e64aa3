import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Fields that must never reach a log line: credentials, one-time and MFA
 * tokens, codes, TOTP secrets, cookies, and mail bodies (they carry links with
 * live tokens). Each name is redacted at the top of a logged object and one
 * level down (`{ body: { code } }`, `{ mail: { text } }`).
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
  'recovery_code',
  'recovery_codes',
  'sealed_private',
  'link',
  'text',
  'html',
  'authorization',
  'cookie',
];
/** Names that are not identifiers: bracket syntax. */
const SECRET_HEADERS = ['authorization', 'cookie', '["set-cookie"]', '["x-api-key"]'];
const at = (prefix: string, name: string) => (name.startsWith('[') ? `${prefix}${name}` : `${prefix}.${name}`);
const REDACT = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  // Request and reply headers as Fastify's serializers and callers log them.
  ...SECRET_HEADERS.flatMap((h) => [at('req.headers', h), at('res.headers', h), at('*.headers', h)]),
  // A mail job's variables: the link, with its token.
  '*.vars.link',
  // MFA codes, wherever a payload is logged; not `*.code`, which would hide every error's code.
  ...['code', 'body.code', 'data.code', 'payload.code', 'input.code', 'm.code', 'msg.code', 'mail.code'],
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
