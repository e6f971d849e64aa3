import type { WireErrorCode } from './contract.ts';

/** A code of the HTTP API, or `network_error` when no answer came (offline, DNS, CORS, timeout). */
export type GatehouseErrorCode = WireErrorCode | 'network_error';

/** The code an answer without the contract's error body gets, from its status. */
const CODE_OF_STATUS: Record<number, WireErrorCode> = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'service_unavailable',
};

export interface GatehouseErrorOptions {
  details?: unknown[] | undefined;
  retryAfter?: number | undefined;
  cause?: unknown;
}

/**
 * Every failure of the SDK: the server's error body (`code`, `message`, `details`) with the
 * HTTP status, or `network_error` (status 0) when the request got no answer.
 */
export class GatehouseError extends Error {
  override readonly name = 'GatehouseError';
  /** The HTTP status; 0 for `network_error`. */
  readonly status: number;
  /** The stable code to match on (`invalid_credentials`, `rate_limited`, ...). */
  readonly code: GatehouseErrorCode;
  /** The server's `details` (for `validation_failed`: one entry per bad field). */
  readonly details: unknown[] | undefined;
  /** Seconds to wait before trying again, from `Retry-After` (429 and 503). */
  readonly retryAfter: number | undefined;

  constructor(status: number, code: GatehouseErrorCode, message: string, options: GatehouseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.retryAfter = options.retryAfter;
  }

  /** True when `err` is a GatehouseError (with `code`, when given). */
  static is(err: unknown, code?: GatehouseErrorCode): err is GatehouseError {
    return err instanceof GatehouseError && (code === undefined || err.code === code);
  }
}

/** The error of a non-2xx answer: the contract's body when it has one, else a code from the status. */
export async function errorFromResponse(res: Response): Promise<GatehouseError> {
  let body: unknown;
  try {
    const text = await res.text();
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const retry = Number(res.headers.get('retry-after'));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
  if (isErrorBody(body)) {
    return new GatehouseError(res.status, body.error, body.message, {
      details: Array.isArray(body.details) ? body.details : undefined,
      retryAfter,
    });
  }
  const code = CODE_OF_STATUS[res.status] ?? 'internal';
  return new GatehouseError(res.status, code, `the server answered ${res.status}`, { retryAfter });
}

/** A request that got no answer. */
export function networkError(cause: unknown): GatehouseError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new GatehouseError(0, 'network_error', `the request got no answer: ${reason}`, { cause });
}

function isErrorBody(body: unknown): body is { error: WireErrorCode; message: string; details?: unknown } {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b.error === 'string' && /^[a-z][a-z0-9_]*$/.test(b.error) && typeof b.message === 'string';
}
