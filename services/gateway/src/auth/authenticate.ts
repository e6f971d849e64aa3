import { type AccessClaims, DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import { ACCESS_COOKIE, checkCsrf, cookieValue } from './cookies.ts';
import type { RevocationSet } from './revocations.ts';
import type { TokenVerifier } from './token-verifier.ts';

/** Who a request is, once authenticated. */
export interface Auth {
  claims: AccessClaims;
  projectId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireAuth`; null on routes that do not authenticate. */
    auth: Auth | null;
  }
}

export type RequireAuth = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

/** How a signed-in caller authenticates, as the OpenAPI document says it: a bearer token, or the access cookie. */
export const TOKEN_SECURITY: { [scheme: string]: string[] }[] = [{ bearer: [] }, { cookie: [] }];

/** Writes into a route's OpenAPI operation that it needs a token (so /docs's Authorize button sends one). */
export function documentTokenRequired(route: RouteOptions): void {
  route.schema = { ...route.schema, security: TOKEN_SECURITY };
}

/** True when `route` authenticates with `requireAuth` at route level. */
export function usesRequireAuth(route: RouteOptions, requireAuth: RequireAuth): boolean {
  const pre = route.preHandler as unknown;
  return pre === requireAuth || (Array.isArray(pre) && pre.includes(requireAuth));
}

/**
 * Every route registered after this in `app`'s plugin needs a token: the
 * hook that checks it, and the same said in the OpenAPI document.
 */
export function requireAuthFor(app: FastifyInstance, requireAuth: RequireAuth): void {
  app.addHook('onRoute', documentTokenRequired);
  app.addHook('preHandler', requireAuth);
}

/**
 * The hot path of every authenticated request: a local signature check
 * (cached) and a revocation-set lookup. No I/O once the keys are loaded, and no
 * promise when the token was seen before: a callback hook, finished synchronously.
 */
export function authenticator(
  verifier: TokenVerifier,
  revocations: RevocationSet,
  origins: ReadonlySet<string>,
  /** ACCESS_TOKEN_TTL in ms: a revocation set out of sync longer than this may miss a live token's revocation. */
  maxStaleMs: number,
): RequireAuth {
  const admit = (request: FastifyRequest, claims: AccessClaims, projectId: string): Error | undefined => {
    if (revocations.has(claims.sid)) return new AppError('unauthorized', 'this session has been revoked');
    // Tokens issued since the bus was lost may have been revoked unheard: refuse rather than guess.
    if (revocations.staleForMs() > maxStaleMs) {
      return new AppError('service_unavailable', 'the revocation list is out of date', { retryAfter: 2 });
    }
    request.auth = { claims, projectId };
    return undefined;
  };
  return function requireAuth(request, _reply, done) {
    // Projects other than the default one arrive with the projects API.
    const projectId = DEFAULT_PROJECT_ID;
    let token: string | undefined;
    let claims: AccessClaims | undefined;
    try {
      token = bearerOf(request) ?? cookieOf(request, origins);
      if (!token) throw new AppError('unauthorized', 'sign in first: send Authorization: Bearer <access_token>');
      claims = verifier.cached(token, projectId);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (claims) {
      done(admit(request, claims, projectId));
      return;
    }
    verifier.verify(token, projectId).then(
      (verified) => done(admit(request, verified, projectId)),
      (err: Error) => done(err),
    );
  };
}

/** The authenticated caller of a route that ran `requireAuth`. */
export function authOf(request: FastifyRequest): Auth {
  if (!request.auth) throw new AppError('unauthorized', 'sign in first');
  return request.auth;
}

function bearerOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  if (header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') {
    throw new AppError('unauthorized', 'send Authorization: Bearer <access_token>');
  }
  return header.slice(7).trim();
}

/** The access-token cookie; a state-changing request carrying it must pass the CSRF check. */
function cookieOf(request: FastifyRequest, origins: ReadonlySet<string>): string | undefined {
  const token = cookieValue(request, ACCESS_COOKIE);
  if (!token) return undefined;
  checkCsrf(request, origins);
  return token;
}
