import { Type } from '@sinclair/typebox';

/**
 * The catalog of stable error codes. Codes are only ever added, never renamed:
 * clients match on them. The gateway maps each one to an HTTP status in one
 * exhaustive table, so a new code without a status does not compile.
 */
export const ERROR_CODES = [
  'invalid_json',
  'validation_failed',
  'unauthorized',
  'token_expired',
  'invalid_credentials',
  'invalid_code',
  'invalid_token',
  'invalid_grant',
  'email_taken',
  'email_not_verified',
  'user_banned',
  'forbidden',
  'not_found',
  'unknown_provider',
  'invalid_state',
  'invalid_redirect',
  'last_login_method',
  'mfa_already_enabled',
  'invalid_challenge',
  'reauthentication_required',
  'rate_limited',
  'payload_too_large',
  'unsupported_media_type',
  'method_not_allowed',
  'service_unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const codes: ReadonlySet<string> = new Set(ERROR_CODES);

/** True when `value` is a code from the catalog. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && codes.has(value);
}

/** A catalog code: in a bus reply, and in the HTTP error body (so the OpenAPI document lists every code). */
export const ErrorCodeField = Type.Unsafe<ErrorCode>(
  Type.String({ enum: [...ERROR_CODES], description: 'stable snake_case code' }),
);
