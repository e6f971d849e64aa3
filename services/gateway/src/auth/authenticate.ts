import type { AccessClaims } from '@gatehouse/contracts';
import { AppError, apiKeyHash, type Config, isApiKeyShaped, type RequestBus } from '@gatehouse/kit';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import type { ApiKeyCache, KeyHolder } from './api-key-cache.ts';
import { ACCESS_COOKIE, checkCsrf, cookieValue } from './cookies.ts';
import type { RevocationSet } from './revocations.ts';
import type { TokenVerifier } from './token-verifier.ts';

/** Who a request is, once authenticated. */
export interface Auth {
  /**
   * The access token's claims; for an API key, the same shape made from the
   * key (`sid` is the key's id, `amr` `["api_key"]`, `auth_time` 0: a key is
   * never a recent sign-in).
   */
  claims: AccessClaims;
  projectId: string;
  /** The API key the request came with, or null for an access token. */
  apiKeyId: string | null;
  /**
   * True for a project's secret key (`sk_...`): it acts as that project's
   * admin, on the admin API only. `claims.sub` and `sid` are then the
   * project's id (no user, no session).
   */
  secretKey: boolean;
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
/** And on the routes an API key may call, the key as well. */
export const KEY_OR_TOKEN_SECURITY: { [scheme: string]: string[] }[] = [...TOKEN_SECURITY, { apiKey: [] }];

/**
 * The checks: `requireAuth` admits a token or a user API key, `requireToken` a
 * token only, `requireAdminAuth` (the admin API) also a project's secret key.
 */
export interface Authenticators {
  requireAuth: RequireAuth;
  requireToken: RequireAuth;
  requireAdminAuth: RequireAuth;
}

/** Writes into a route's OpenAPI operation what credentials it takes (so /docs's Authorize button sends one). */
export function documentAuthRequired(route: RouteOptions, keys: boolean): void {
  route.schema = { ...route.schema, security: keys ? KEY_OR_TOKEN_SECURITY : TOKEN_SECURITY };
}

/** True when `route` authenticates with `check` at route level. */
export function usesCheck(route: RouteOptions, check: RequireAuth): boolean {
  const pre = route.preHandler as unknown;
  return pre === check || (Array.isArray(pre) && pre.includes(check));
}

/**
 * Every route registered after this in `app`'s plugin needs a token or an API
 * key (`check`: `requireAuth`), or a token only (`requireToken`): the hook, and
 * the same said in the OpenAPI document.
 */
export function requireAuthFor(app: FastifyInstance, check: RequireAuth, auth: Authenticators): void {
  const keys = check !== auth.requireToken;
  app.addHook('onRoute', (route) => documentAuthRequired(route, keys));
  app.addHook('preHandler', check);
}

export interface AuthenticatorDeps {
  verifier: TokenVerifier;
  revocations: RevocationSet;
  keys: ApiKeyCache;
  /** Asks identity who a key (by its hash) acts as: `identity.api_key.verify`, with the request's id. */
  busFor(request: FastifyRequest): RequestBus;
  /** Counts a key lookup against the caller's address (a made-up key costs a bus call). */
  hitIp(ip: string): Promise<void>;
  origins: ReadonlySet<string>;
  /** PUBLIC_URL: the CSRF cookie's name depends on its scheme. */
  config: Pick<Config, 'publicUrl'>;
  /** ACCESS_TOKEN_TTL in ms: a revocation set out of sync longer than this may miss a live token's revocation. */
  maxStaleMs: number;
}

const refusedKey = () => new AppError('unauthorized', 'this API key is not valid');
const secretKeyNotHere = () =>
  new AppError('forbidden', "a project's secret key works on the admin API (/admin/...) only");
const keyNotHere = () =>
  new AppError(
    'forbidden',
    'an API key cannot do this: sign in (a key cannot manage keys, sign-in methods or sessions)',
  );

/** The claims an API key acts with: its user and role, never a recent sign-in, no session. */
function keyClaims(holder: KeyHolder): AccessClaims {
  return {
    iss: '',
    aud: holder.projectId,
    sub: holder.userId,
    sid: holder.keyId,
    role: holder.role,
    amr: ['api_key'],
    auth_time: 0,
    iat: 0,
    exp: holder.expiresAt === null ? Number.MAX_SAFE_INTEGER : Math.floor(holder.expiresAt / 1000),
  };
}

/**
 * The hot path of every authenticated request: a local signature check
 * (cached) and a revocation-set lookup. No I/O once the keys are loaded, and no
 * promise when the token was seen before: a callback hook, finished synchronously.
 * An API key (`X-API-Key`, or `Authorization: Bearer uk_...`) is the same once
 * its answer is cached: a hash and a Map read.
 */
export function authenticator(deps: AuthenticatorDeps): Authenticators {
  const { verifier, revocations, keys, origins, maxStaleMs } = deps;
  const admit = (request: FastifyRequest, claims: AccessClaims, projectId: string): Error | undefined => {
    if (revocations.has(claims.sid)) return new AppError('unauthorized', 'this session has been revoked');
    // Tokens issued since the bus was lost may have been revoked unheard: refuse rather than guess.
    if (revocations.staleForMs() > maxStaleMs) {
      return new AppError('service_unavailable', 'the revocation list is out of date', { retryAfter: 2 });
    }
    request.auth = { claims, projectId, apiKeyId: null, secretKey: false };
    return undefined;
  };
  /** `projectId`: the project the request named, or undefined: the key's own. */
  const admitKey = (request: FastifyRequest, holder: KeyHolder, projectId: string | undefined): Error | undefined => {
    // A key names its own project: it works on requests of that project only.
    if ((projectId !== undefined && holder.projectId !== projectId) || keys.isRevoked(holder.keyId)) {
      return refusedKey();
    }
    request.auth = { claims: keyClaims(holder), projectId: holder.projectId, apiKeyId: holder.keyId, secretKey: false };
    return undefined;
  };
  const lookUp = async (
    request: FastifyRequest,
    hash: string,
    projectId: string | undefined,
  ): Promise<Error | undefined> => {
    await deps.hitIp(request.ip);
    const epoch = keys.epoch;
    try {
      const answer = await deps.busFor(request).request('identity.api_key.verify', { key_hash: hash });
      const holder: KeyHolder = {
        keyId: answer.key_id,
        projectId: answer.project_id,
        userId: answer.user_id,
        role: answer.role,
        expiresAt: answer.expires_at === null ? null : Date.parse(answer.expires_at),
      };
      keys.put(hash, holder, epoch);
      return admitKey(request, holder, projectId);
    } catch (err) {
      if (err instanceof AppError && err.code === 'unauthorized') {
        keys.refused(hash);
        return refusedKey();
      }
      throw err;
    }
  };
  const check = (admits: 'tokens' | 'keys' | 'admin'): RequireAuth =>
    function requireAuth(request, _reply, done) {
      // The project the request names (X-API-Key: pk_ or sk_, see projectHook), else the default.
      const named = request.project;
      const projectId = named.id;
      let token: string | undefined;
      let claims: AccessClaims | undefined;
      try {
        if (named.secretKey) {
          if (admits !== 'admin') throw secretKeyNotHere();
          request.auth = { claims: secretKeyClaims(projectId), projectId, apiKeyId: null, secretKey: true };
          done();
          return;
        }
        const key = apiKeyOf(request);
        if (key !== undefined) {
          if (admits === 'tokens') throw keyNotHere();
          const hash = apiKeyHash(key);
          const known = keys.get(hash);
          if (known === 'unknown') throw refusedKey();
          const expected = named.named ? projectId : undefined;
          if (known) {
            done(admitKey(request, known, expected));
            return;
          }
          lookUp(request, hash, expected).then(
            (err) => done(err),
            (err: Error) => done(err),
          );
          return;
        }
        token = bearerOf(request) ?? cookieOf(request, origins, deps.config);
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
  return { requireAuth: check('keys'), requireToken: check('tokens'), requireAdminAuth: check('admin') };
}

/** The claims a project's secret key acts with: the project's admin, no user, no session, never a recent sign-in. */
function secretKeyClaims(projectId: string): AccessClaims {
  return {
    iss: '',
    aud: projectId,
    sub: projectId,
    sid: projectId,
    role: 'admin',
    amr: ['secret_key'],
    auth_time: 0,
    iat: 0,
    exp: Number.MAX_SAFE_INTEGER,
  };
}

/**
 * The API key a request carries: `X-API-Key: uk_...`, or a bearer credential
 * of a key's form. Undefined when it carries none. A header that names
 * another kind of key (a project key) authenticates nobody here.
 */
function apiKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  // A publishable key in X-API-Key only names the project (projectHook): it authenticates nobody.
  if (header !== undefined && !request.project.named) {
    const value = Array.isArray(header) ? undefined : header.trim();
    if (value === undefined || !isApiKeyShaped(value)) throw refusedKey();
    return value;
  }
  const authorization = request.headers.authorization;
  if (authorization?.startsWith('Bearer uk_') || authorization?.startsWith('bearer uk_')) {
    const value = authorization.slice(7).trim();
    if (!isApiKeyShaped(value)) throw refusedKey();
    return value;
  }
  return undefined;
}

/** For a route of a plugin that takes keys, where this one route must not: 403 `forbidden` for a key. */
export function refuseApiKey(auth: Auth): void {
  if (auth.apiKeyId !== null) throw keyNotHere();
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
function cookieOf(
  request: FastifyRequest,
  origins: ReadonlySet<string>,
  config: Pick<Config, 'publicUrl'>,
): string | undefined {
  const token = cookieValue(request, ACCESS_COOKIE);
  if (!token) return undefined;
  checkCsrf(request, origins, config);
  return token;
}
