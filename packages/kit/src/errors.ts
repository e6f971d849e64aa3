import type { ErrorCode } from '@gatehouse/contracts';

/**
 * The one error type of Gatehouse. Expected outcomes (bad credentials, a
 * taken email, a dependency that is down) are thrown as an AppError with a
 * catalog code; anything else is a bug, logged and answered as `internal`.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown[] | undefined;
  /** Seconds a client should wait before retrying (429 and 503). */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: unknown[]; cause?: unknown; retryAfter?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
    this.retryAfter = options.retryAfter;
  }
}

/** True when `err` is an AppError with one of `codes` (any code when none is given). */
export function isAppError(err: unknown, ...codes: ErrorCode[]): err is AppError {
  return err instanceof AppError && (codes.length === 0 || codes.includes(err.code));
}

/** A dependency (NATS, Redis, Postgres) did not answer: the caller gets 503 and retries. */
export function unavailable(what: string, cause?: unknown): AppError {
  return new AppError('service_unavailable', `${what} is unavailable, try again shortly`, { cause, retryAfter: 2 });
}
