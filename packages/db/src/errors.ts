import { AppError, unavailable } from '@gatehouse/kit';

/** Postgres SQLSTATE of a unique violation. */
const UNIQUE_VIOLATION = '23505';

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

/** True when `err` says the database is down or too slow, rather than that the query was wrong. */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
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

/**
 * Runs a database call and turns an outage into AppError `service_unavailable`.
 * Other errors pass through unchanged: an AppError is an expected outcome, and
 * anything else is a bug the bus logs and answers as `internal`, so no SQL
 * text or driver message ever reaches a reply.
 */
export async function withDatabaseErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (isUnavailable(err)) throw unavailable('the database', err);
    throw err;
  }
}
