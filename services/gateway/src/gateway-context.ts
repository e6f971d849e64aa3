import type { Config, RequestBus } from '@gatehouse/kit';
import type { FastifyRequest } from 'fastify';
import type { ApiKeyCache } from './auth/api-key-cache.ts';
import type { RequireAuth } from './auth/authenticate.ts';
import type { RevocationSet } from './auth/revocations.ts';
import type { AllowedPrefix } from './http/redirects.ts';
import type { SignInLimits } from './rate-limit/limits.ts';

/** What every route plugin of the gateway is given. */
export interface GatewayContext {
  /**
   * The bus as `request` sees it: every call carries the request's id. Routes have no other
   * handle on the bus, so no call can drop the id that follows a sign-in through the services.
   */
  busFor(request: FastifyRequest): RequestBus;
  config: Config;
  revocations: RevocationSet;
  /** Verified API keys, by hash: revoke here at once (the event reaches the other replicas). */
  keys: ApiKeyCache;
  limits: SignInLimits;
  /** A token or an API key. */
  requireAuth: RequireAuth;
  /** A token only: the routes that manage keys, sign-in methods, the password, sessions. */
  requireToken: RequireAuth;
  /** Origins whose pages may use cookie mode (CSRF check). */
  origins: ReadonlySet<string>;
  /** REDIRECT_ALLOWLIST, parsed: where emailed links may lead. */
  redirects: readonly AllowedPrefix[];
}

/** Where a request came from, as a session records it. */
export function clientOf(request: FastifyRequest): { ip: string; user_agent?: string } {
  const ua = request.headers['user-agent'];
  return { ip: request.ip.slice(0, 64), ...(ua ? { user_agent: ua.slice(0, 512) } : {}) };
}

/** Revokes sessions and drops them from this replica's set at once (the event reaches the others). */
export function markRevoked(ctx: GatewayContext, sessionIds: string[]): void {
  const until = Date.now() + (ctx.config.accessTokenTtl + 60) * 1000;
  for (const id of sessionIds) ctx.revocations.add(id, until);
}
