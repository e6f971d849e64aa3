import { ErrorBody } from '@gatehouse/contracts';

/**
 * The error statuses a route's OpenAPI entry lists, each with the contract's
 * one error body: `errorResponses(401, 503)` is `{ 401: ErrorBody, 503: ErrorBody }`.
 */
export function errorResponses<const S extends readonly number[]>(...statuses: S): Record<S[number], typeof ErrorBody> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorBody])) as Record<S[number], typeof ErrorBody>;
}
