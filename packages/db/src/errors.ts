import { AppError, unavailable } from '@gatehouse/kit';

/** Postgres SQLSTATE of a unique violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * SQLSTATEs raised for text the database cannot store, the same on Postgres
 * and PGlite: 22021 character_not_in_repertoire (U+0000 in a text value:
 * `invalid byte sequence for encoding "UTF8": 0x00`), 22P05
 * untranslatable_character (`\u0000` in a jsonb string: `unsupported Unicode
 * escape sequence`).
 */
const UNSTORABLE_TEXT_STATES = new Set(['22021', '22P05']);
/**
 * 22P02 invalid_text_representation is mostly a bug of ours (a value of the
 * wrong type reached a typed column: `invalid input syntax for type uuid`) and
 * stays one. Only its json form is the client's doing: we send JSON.stringify
 * output, which Postgres refuses only for its characters (a lone surrogate,
 * `\ud800`: `invalid input syntax for type json`).
 */
const INVALID_TEXT_REPRESENTATION = '22P02';
const JSON_INPUT_MESSAGE = /^invalid input syntax for type jsonb?\b/;
/**
 * 54001 statement too complex / stack depth limit exceeded: a value nested far
 * deeper than any we accept (Postgres parses jsonb recursively).
 */
const TOO_DEEP_STATE = '54001';

/**
 * SQLSTATE classes and codes meaning "the database cannot serve us right now":
 * 08 connection exceptions, 53 insufficient resources, 57P01-57P03 shutdown
 * and startup, 57014 a statement cancelled by statement_timeout.
 */
const UNAVAILABLE_STATES = /^(08|53)|^57P0[123]$|^57014$/;

/** Socket errors from Node when the server is down, unreachable or hung up. */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * node-postgres raises a few conditions as plain Errors without a code
 * (pool connect timeout, query_timeout, a socket closed mid-query); their
 * message is the only thing that tells them apart. PGlite likewise once closed.
 */
const UNAVAILABLE_MESSAGES =
  /timeout exceeded when trying to connect|connection terminated|query read timeout|connection timeout|client has encountered a connection error|cannot use a pool after calling end|pglite is closed/i;

interface DriverError {
  code?: unknown;
  constraint?: unknown;
  message?: unknown;
}

/** WebAssembly's RuntimeError, thrown on a trap; the TypeScript libs this repo compiles against lack it. */
export const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } })
  .WebAssembly.RuntimeError;

/** True for a WebAssembly trap (`RuntimeError: memory access out of bounds`, `unreachable`, `Aborted()`). */
export function isWasmTrap(err: unknown): boolean {
  return err instanceof WasmRuntimeError;
}

/**
 * The embedded database (PGlite) crashed, or is being reopened after a crash,
 * or could not be reopened: the query did not run. An outage, answered as
 * `service_unavailable`; the next query after the reopen works again.
 */
export class EmbeddedDatabaseUnavailable extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'EmbeddedDatabaseUnavailable';
  }
}

/** True when `err` says the database is down or too slow, rather than that the query was wrong. */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // A WebAssembly trap is PGlite crashing (see pglite.ts); it is never the query's fault alone.
  if (err instanceof EmbeddedDatabaseUnavailable || isWasmTrap(err)) return true;
  const { code, message } = err as DriverError;
  if (typeof code === 'string' && (UNAVAILABLE_STATES.test(code) || UNAVAILABLE_SOCKET_CODES.has(code))) return true;
  if (err instanceof AggregateError) return err.errors.some(isUnavailable);
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}

/** The constraint a unique violation broke, or undefined when `err` is not one. */
export function uniqueViolation(err: unknown): string | undefined {
  const { code, constraint, message } = (err ?? {}) as DriverError;
  if (code !== UNIQUE_VIOLATION) return undefined;
  if (typeof constraint === 'string') return constraint;
  // PGlite does not always fill `constraint`; Postgres names it in the message.
  const named = typeof message === 'string' ? /constraint "([^"]+)"/.exec(message) : null;
  return named?.[1] ?? '';
}

/** What the client reads when the database refuses a value for its characters. */
const UNSTORABLE_CHARACTERS = 'the request holds characters that cannot be stored';

/**
 * The AppError `validation_failed` for a value the database refuses because of
 * what the client sent (U+0000, a lone surrogate, absurd nesting), or
 * undefined when `err` is not one. The driver's message, which may quote the
 * value, stays in `cause` and never reaches a reply.
 */
export function unstorableInput(err: unknown): AppError | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, message } = err as DriverError;
  const refused = (summary: string, detail: string) =>
    new AppError('validation_failed', summary, { details: [{ field: '/', message: detail }], cause: err });
  if (typeof code !== 'string') return undefined;
  if (UNSTORABLE_TEXT_STATES.has(code)) {
    return refused(UNSTORABLE_CHARACTERS, 'a text holds U+0000 (NUL) or a character that is not valid Unicode');
  }
  if (code === INVALID_TEXT_REPRESENTATION && typeof message === 'string' && JSON_INPUT_MESSAGE.test(message)) {
    return refused(UNSTORABLE_CHARACTERS, 'a text holds a lone surrogate (not valid Unicode)');
  }
  if (code === TOO_DEEP_STATE) return refused('the request is nested too deeply to be stored', 'nested too deeply');
  return undefined;
}

/**
 * Runs a database call and turns an outage into AppError `service_unavailable`,
 * and a value the database cannot store (see `unstorableInput`) into
 * `validation_failed`. Other errors pass through unchanged: an AppError is an
 * expected outcome, and anything else is a bug the bus logs and answers as
 * `internal`, so no SQL text or driver message ever reaches a reply.
 */
export async function withDatabaseErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (isUnavailable(err)) throw unavailable('the database', err);
    throw unstorableInput(err) ?? err;
  }
}
