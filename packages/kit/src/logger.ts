import { type DestinationStream, type Logger, pino, stdSerializers } from 'pino';
import { activeTraceId } from './tracing.ts';

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
/**
 * Hashes and keys, and the values a statement ran with, should a caller log
 * them beside an error: a password hash can be cracked offline, a token hash
 * looks a live token up. Redacted at the top of a logged object, and anywhere
 * inside an error (`serializeError`); payloads do not carry them, and each
 * payload path costs every line.
 */
const HASH_AND_KEY_FIELDS = [
  'hash',
  'password_hash',
  'passwordHash',
  'token_hash',
  'tokenHash',
  'code_hash',
  'secret_hash',
  'secret_sealed',
  'pending_secret_sealed',
  'key_sealed',
  'key',
  'private_key',
  'privateKey',
  'secret_key',
  'secretKey',
  'api_key',
  'apiKey',
  'params',
  'parameters',
];
/** Names that are not identifiers: bracket syntax. */
const SECRET_HEADERS = ['authorization', 'cookie', '["set-cookie"]', '["x-api-key"]'];
const HEADER_HOLDERS = ['', 'req', 'res', 'request', 'reply', 'response'];
const at = (prefix: string, name: string) => (name.startsWith('[') ? `${prefix}${name}` : `${prefix}.${name}`);
const REDACT = [
  // `err` is not a payload: an error's code (`ECONNREFUSED`) stays readable.
  ...SECRET_FIELDS,
  ...HASH_AND_KEY_FIELDS,
  ...PAYLOADS.flatMap((parent) => SECRET_FIELDS.map((f) => `${parent}.${f}`)),
  ...HEADER_HOLDERS.flatMap((holder) => SECRET_HEADERS.map((h) => at(holder ? `${holder}.headers` : 'headers', h))),
];

const CENSOR = '[redacted]';

/**
 * Properties of an error that hold the data a failed call ran with, dropped
 * from the log line. PGlite sets `params` (a user's password hash, a token
 * hash) and `queryOptions` on every error; Postgres' `where` (the error
 * context) and `internalQuery` quote the input; ioredis puts the command's
 * `args` (keys and values) on its errors. The SQL text (`query`) stays: every
 * value we send is a bound parameter (kysely), never spliced into the text.
 */
const ERROR_DATA = new Set(['params', 'parameters', 'queryOptions', 'internalQuery', 'where', 'args', 'argv']);
/** Inside an error every secret field name is redacted, at any depth; its `code` (`23505`, `ECONNREFUSED`) is not one. */
const ERROR_SECRETS = new Set([...SECRET_FIELDS.filter((f) => f !== 'code'), ...HASH_AND_KEY_FIELDS]);
/** How deep an error's properties are followed (causes, aggregated errors, attached objects). */
const ERROR_DEPTH = 8;

/**
 * Postgres' `detail` quotes the row: `Key (email)=(a@b.example) already
 * exists.`, `Failing row contains (<every column, password hash included>).`
 * The column names stay, the values go.
 */
export function scrubDetail(detail: string): string {
  const failing = /^(Failing row contains )\(.*\)(\.?)$/s.exec(detail);
  if (failing) return `${failing[1]}(${CENSOR})${failing[2]}`;
  const key = /^(Key \([^)]*\))=\(.*\)( [^()]*)$/s.exec(detail);
  if (key) return `${key[1]}=(${CENSOR})${key[2]}`;
  // Any other detail that quotes values (an exclusion conflict names two rows): all of it goes.
  return /\)=\(|contains \(/.test(detail) ? CENSOR : detail;
}

/** A copy of `value` (part of a serialized error) with data and secrets taken out; the original is not touched. */
function scrub(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth > ERROR_DEPTH) return '[too deep]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1, seen));
  // An error held in a property other than `cause` (which the message and stack already tell): serialized too.
  const source = value instanceof Error ? stdSerializers.err(value) : value;
  const copy: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(source)) {
    if (ERROR_DATA.has(name)) continue;
    if (ERROR_SECRETS.has(name)) copy[name] = CENSOR;
    else if (name === 'detail' && typeof item === 'string') copy[name] = scrubDetail(item);
    else copy[name] = scrub(item, depth + 1, seen);
  }
  return copy;
}

/**
 * The `err` serializer: pino's standard one (type, message and stack with
 * their causes, own properties, AggregateError's `errors` as
 * `aggregateErrors`), then the copy scrubbed: a driver error's parameters and
 * quoted rows dropped, secret fields redacted at any depth (wildcard
 * redaction paths would cost every line; this costs only the lines that log an
 * error).
 */
export function serializeError(err: unknown): unknown {
  if (!(err instanceof Error) && (err === null || typeof err !== 'object')) return err;
  return scrub(err instanceof Error ? stdSerializers.err(err) : err, 0, new WeakSet());
}

/**
 * The process logger: JSON lines with secrets redacted, each tagged with the
 * service that wrote it. The embedded mode passes no `service` and tags its
 * five children instead (a key given twice would appear twice in the line).
 * Errors are logged under `err` (also `error` and `cause`) through `serializeError`.
 */
export function createLogger(options: { level: string; service?: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      redact: { paths: REDACT, censor: CENSOR },
      serializers: { err: serializeError, error: serializeError, cause: serializeError },
      base: options.service ? { service: options.service } : { mode: 'embedded' },
      // The trace a line belongs to, beside its request id (reqId), while tracing is on.
      mixin: () => {
        const traceId = activeTraceId();
        return traceId ? { trace_id: traceId } : {};
      },
    },
    options.destination,
  );
}
