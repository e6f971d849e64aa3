import { Type } from '@sinclair/typebox';

/**
 * The catalog of stable error codes. Codes are only ever added, never renamed:
 * clients match on them. The gateway maps each one to an HTTP status in one
 * exhaustive table, so a new code without a status does not compile.
 *
 * A code is one status. Where the contract gives one wire name two statuses
 * (`invalid_token` is 400 for a bad link but 401 for a bad MFA token), the
 * catalog holds two codes and WIRE_NAME says which name the client reads.
 */
export const ERROR_CODES = [
  'invalid_json',
  'validation_failed',
  'unauthorized',
  'token_expired',
  'invalid_credentials',
  'invalid_code',
  'invalid_token',
  'invalid_one_time_token',
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
  'identity_already_linked',
  'last_admin',
  'mfa_already_enabled',
  'invalid_challenge',
  'invalid_sign_in_challenge',
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

/**
 * The codes the HTTP API spells as another code, with a status of their own:
 * a one-time token in a link (reset, verification, magic link, OAuth exchange)
 * that is bad, expired or used is bad input (400), where a bad MFA token is a
 * bad credential (401); a passkey sign-in whose challenge is gone is a failed
 * sign-in (401), where a registration or TOTP setup without its challenge is a
 * bad request (400).
 */
export const WIRE_NAME = {
  invalid_one_time_token: 'invalid_token',
  invalid_sign_in_challenge: 'invalid_challenge',
} as const satisfies Partial<Record<ErrorCode, ErrorCode>>;

/** A code as the HTTP API spells it: the catalog without the codes WIRE_NAME renames. */
export type WireErrorCode = Exclude<ErrorCode, keyof typeof WIRE_NAME>;

/** The code a client reads in the HTTP error body for `code`. */
export function wireName(code: ErrorCode): WireErrorCode {
  return Object.hasOwn(WIRE_NAME, code) ? WIRE_NAME[code as keyof typeof WIRE_NAME] : (code as WireErrorCode);
}

/** Every code the HTTP API can answer with. */
export const WIRE_ERROR_CODES: readonly WireErrorCode[] = ERROR_CODES.filter(
  (code): code is WireErrorCode => !Object.hasOwn(WIRE_NAME, code),
);

/** A catalog code in a bus reply (services raise the code that carries its status). */
export const ErrorCodeField = Type.Unsafe<ErrorCode>(
  Type.String({ enum: [...ERROR_CODES], description: 'stable snake_case code' }),
);

/** A code in the HTTP error body, so the OpenAPI document lists every code a client can read. */
export const WireErrorCodeField = Type.Unsafe<WireErrorCode>(
  Type.String({ enum: [...WIRE_ERROR_CODES], description: 'stable snake_case code' }),
);
