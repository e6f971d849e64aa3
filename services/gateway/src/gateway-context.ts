import type { AuditEventType } from '@gatehouse/contracts';
import { type AuditEventInput, type AuditSink, auditEvent, type Config, type RequestBus } from '@gatehouse/kit';
import type { FastifyRequest } from 'fastify';
import type { ProfileCache } from './account/profile-cache.ts';
import type { ApiKeyCache } from './auth/api-key-cache.ts';
import type { RequireAuth } from './auth/authenticate.ts';
import type { RevocationSet } from './auth/revocations.ts';
import type { AllowedPrefix } from './http/redirects.ts';
import type { ProjectDirectory } from './projects/project-directory.ts';
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
  /** `GET /auth/me`'s answers by user, dropped by the user and session events (account/profile-cache.ts). */
  profiles: ProfileCache;
  limits: SignInLimits;
  /** A token or an API key. */
  requireAuth: RequireAuth;
  /** A token only: the routes that manage keys, sign-in methods, the password, sessions. */
  requireToken: RequireAuth;
  /** The admin API's: a token or a user API key (of an admin), or a project's secret key. */
  requireAdminAuth: RequireAuth;
  /** Every project's keys and settings, in memory (projects/project-directory.ts). */
  projects: ProjectDirectory;
  /** Origins whose pages may use cookie mode (CSRF check). */
  origins: ReadonlySet<string>;
  /** REDIRECT_ALLOWLIST, parsed: where emailed links may lead. */
  redirects: readonly AllowedPrefix[];
  /** The audit log's queue (JetStream in the stack, in process embedded): see `recordAudit`. */
  audit: AuditSink;
}

/** Where a request came from, as a session records it. */
export function clientOf(request: FastifyRequest): { ip: string; user_agent?: string } {
  const ua = request.headers['user-agent'];
  return { ip: request.ip.slice(0, 64), ...(ua ? { user_agent: ua.slice(0, 512) } : {}) };
}

/**
 * Records what `request` did in the audit log, with where it came from (its
 * address and user agent), once it has happened. Returns at once and never
 * throws: the JetStream publish is awaited off the request path, so the audit
 * log adds no latency to a sign-in and cannot fail one (a failed publish is
 * kept, retried and logged). `data` is cut to the type's allow-list.
 */
export function recordAudit<T extends AuditEventType>(
  ctx: GatewayContext,
  request: FastifyRequest,
  event: Omit<AuditEventInput<T>, 'ip' | 'user_agent' | 'at'>,
): void {
  const { ip, user_agent } = clientOf(request);
  ctx.audit.record(auditEvent<T>({ ...event, ip, user_agent: user_agent ?? null }));
}

/** Revokes sessions and drops them from this replica's set at once (the event reaches the others). */
export function markRevoked(ctx: GatewayContext, sessionIds: string[]): void {
  const until = Date.now() + (ctx.config.accessTokenTtl + 60) * 1000;
  for (const id of sessionIds) ctx.revocations.add(id, until);
}
