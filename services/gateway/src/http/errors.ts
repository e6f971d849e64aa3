import { type ErrorCode, wireName } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Every catalog code's HTTP status, in one place and the only place: no route
 * overrides it. Keyed by the code type, so a code added to the catalog without
 * a status here does not compile. The body carries the code's wire name
 * (`wireName`): `invalid_one_time_token` is read as `invalid_token`.
 */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_json: 400,
  validation_failed: 400,
  unauthorized: 401,
  token_expired: 401,
  invalid_credentials: 401,
  invalid_code: 401,
  invalid_token: 401,
  invalid_one_time_token: 400,
  invalid_grant: 401,
  email_taken: 409,
  email_not_verified: 403,
  user_banned: 403,
  forbidden: 403,
  not_found: 404,
  unknown_provider: 404,
  invalid_state: 400,
  invalid_redirect: 400,
  last_login_method: 409,
  identity_already_linked: 409,
  last_admin: 409,
  mfa_already_enabled: 409,
  invalid_challenge: 400,
  invalid_sign_in_challenge: 401,
  reauthentication_required: 403,
  rate_limited: 429,
  payload_too_large: 413,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  service_unavailable: 503,
  internal: 500,
};

// Fastify's own errors for bad requests, in catalog terms.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_json',
};

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  payload_too_large: 'the request body is larger than 64 KiB',
  invalid_json: 'the request body is not valid JSON',
  unsupported_media_type: 'send the request body as application/json',
};

/** The field a validation error names: its path, the missing property, or the one that is not allowed. */
function fieldOf(v: NonNullable<FastifyError['validation']>[number]): string {
  const path = v.instancePath ? v.instancePath.slice(1).replaceAll('/', '.') : '';
  const named = v.params?.missingProperty ?? v.params?.additionalProperty;
  if (named === undefined) return path;
  return path ? `${path}.${String(named)}` : String(named);
}

type SchemaError = NonNullable<FastifyError['validation']>[number] & { parentSchema?: { description?: unknown } };

/** What a failed `pattern` or `format` says: what its schema describes, never the pattern itself. */
function messageOf(v: SchemaError): string {
  if (v.keyword === 'pattern' || v.keyword === 'format') {
    const described = v.parentSchema?.description;
    return typeof described === 'string' ? `must be ${described}` : 'is not in the expected form';
  }
  return v.message ?? 'is invalid';
}

/**
 * One detail per problem of each field. A field typed `X | null` that is
 * neither fails three ways (X's rule, "must be null", "must match a schema in
 * anyOf"): only X's rule is worth saying.
 */
function detailsOf(errors: readonly SchemaError[]): { field: string; message: string }[] {
  const byField = new Map<string, SchemaError[]>();
  for (const v of errors) {
    const field = fieldOf(v);
    byField.set(field, [...(byField.get(field) ?? []), v]);
  }
  const noise = (v: SchemaError) => v.keyword === 'anyOf' || (v.keyword === 'type' && v.params?.type === 'null');
  const details: { field: string; message: string }[] = [];
  for (const [field, list] of byField) {
    const said = list.some((v) => !noise(v)) ? list.filter((v) => !noise(v)) : list.slice(0, 1);
    for (const message of new Set(said.map(messageOf))) details.push({ field, message });
  }
  return details;
}

/** Turns anything thrown by a route into an AppError; unknown errors become `internal`. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError;
  if (fe.validation)
    return new AppError('validation_failed', 'the request is invalid', { details: detailsOf(fe.validation) });
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return new AppError(mapped, MESSAGES[mapped] ?? 'bad request');
  if (fe instanceof SyntaxError && fe.statusCode === 400) return new AppError('invalid_json', MESSAGES.invalid_json!);
  return new AppError('internal', 'internal error', { cause: err });
}

/** The one function that writes an error out: the contract's body, and nothing else. */
export function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const error = toAppError(err);
  const status = HTTP_STATUS[error.code];
  if (status >= 500) {
    const cause = error.code === 'internal' ? (error.cause ?? err) : error.cause;
    request.log[error.code === 'internal' ? 'error' : 'warn']({ err: cause, code: error.code }, error.message);
  }
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter));
  else if (status === 503) reply.header('retry-after', '2');
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  const message = error.code === 'internal' ? 'internal error' : error.message;
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send({ error: wireName(error.code), message, ...(error.details ? { details: error.details } : {}) });
}
