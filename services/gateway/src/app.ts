import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { REALTIME_CLOSE } from '@gatehouse/contracts/realtime';
import { AppError, type AuditSink, type Bus, type Config, type Logger, metrics, tracingEnabled } from '@gatehouse/kit';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { accountRoutes } from './account/account.routes.ts';
import { apiKeyRoutes } from './account/api-keys.routes.ts';
import { emailVerificationRoutes } from './account/email-verification.routes.ts';
import { identityRoutes } from './account/identities.routes.ts';
import { passwordRoutes } from './account/password.routes.ts';
import { ProfileCache } from './account/profile-cache.ts';
import { adminUserRoutes } from './admin/admin-users.routes.ts';
import { auditRoutes } from './admin/audit.routes.ts';
import { invitationRoutes } from './admin/invitations.routes.ts';
import { adminProjectRoutes } from './admin/projects.routes.ts';
import { ApiKeyCache } from './auth/api-key-cache.ts';
import { authenticator, documentAuthRequired, usesCheck } from './auth/authenticate.ts';
import { ACCESS_COOKIE, allowedOrigins } from './auth/cookies.ts';
import { RevocationSet } from './auth/revocations.ts';
import { TokenVerifier } from './auth/token-verifier.ts';
import { discoveryRoutes } from './discovery/discovery.routes.ts';
import type { GatewayContext } from './gateway-context.ts';
import { EdgeLogController } from './http/edge-log.ts';
import { sendError } from './http/errors.ts';
import { traceRequests } from './http/http-traces.ts';
import { registerJsonBodyParser } from './http/json-body.ts';
import { lazyChildLogger } from './http/lazy-logger.ts';
import { parseAllowlist } from './http/redirects.ts';
import { securityHeaders } from './http/security-headers.ts';
import { confirmRoutes } from './pages/confirm.routes.ts';
import { type NamedProject, nameProject, ProjectDirectory } from './projects/project-directory.ts';
import { SignInLimits } from './rate-limit/limits.ts';
import type { RateLimitStore } from './rate-limit/rate-limit.store.ts';
import { realtimeRoutes, routeUpgrades, upgradeEmitter } from './realtime/realtime.routes.ts';
import { RealtimeHub } from './realtime/realtime-hub.ts';
import { passkeyRoutes } from './second-factors/passkeys.routes.ts';
import { totpRoutes } from './second-factors/totp.routes.ts';
import { refreshRoutes } from './sessions/refresh.routes.ts';
import { sessionRoutes } from './sessions/session.routes.ts';
import { guestSignIn } from './sign-in/guest.routes.ts';
import { invitationSignIn } from './sign-in/invitation.routes.ts';
import { magicLinkSignIn } from './sign-in/magic-link.routes.ts';
import { passkeySignIn } from './sign-in/passkey.routes.ts';
import { passwordSignIn } from './sign-in/password.routes.ts';
import { secondFactorSignIn } from './sign-in/second-factor.routes.ts';
import { socialSignIn } from './sign-in/social.routes.ts';

export { MemoryRateLimitStore, type RateLimitStore, RedisRateLimitStore } from './rate-limit/rate-limit.store.ts';

export interface GatewayDeps {
  bus: Bus;
  config: Config;
  log: Logger;
  rateLimitStore: RateLimitStore;
  /** Where the audit events go: JetStream in the stack, the in-process queue embedded. */
  audit: AuditSink;
}

export interface Gateway {
  app: FastifyInstance;
  revocations: RevocationSet;
  verifier: TokenVerifier;
  keys: ApiKeyCache;
  profiles: ProfileCache;
  projects: ProjectDirectory;
  /** This replica's realtime sockets (`GET /auth/events`), fed by the bus's user events. */
  realtime: RealtimeHub;
}

/** How often the whole project directory is reloaded (events keep it exact in between). */
const PROJECT_RELOAD_MS = 30_000;
/** How often the uses of API keys are sent to identity (their `last_used_at`). */
const API_KEY_TOUCH_MS = 30_000;

/** The contract's body limit: 64 KiB, above which a request is 413. */
const BODY_LIMIT = 64 * 1024;

/**
 * Builds the HTTP edge: routes, validation, error mapping, OpenAPI. It does
 * not listen and does no I/O; `startGateway` does.
 */
export async function buildGateway(deps: GatewayDeps): Promise<Gateway> {
  const { bus, config, log } = deps;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new EdgeLogController(log.isLevelEnabled('debug'), config.metrics),
    childLoggerFactory: lazyChildLogger,
    bodyLimit: BODY_LIMIT,
    // A graceful stop serves what still arrives on open connections (each answer says
    // Connection: close, so the client's next request goes to another replica) instead of
    // Fastify's own 503 body: nothing fails while a replica drains.
    return503OnClosing: false,
    trustProxy: trustFunction(config.trustProxy),
    // A caller's X-Request-Id is kept (so one sign-in can be followed through every service);
    // otherwise a random id.
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    ajv: {
      // The contract: ill-typed fields are 400, so no type coercion of bodies;
      // every bad field is named, so collect all errors; verbose, so an error
      // can say what its schema describes instead of quoting a pattern.
      customOptions: { coerceTypes: false, allErrors: true, removeAdditional: false, verbose: true },
    },
  });

  const revocations = new RevocationSet();
  const verifier = new TokenVerifier({
    issuer: config.publicUrl,
    // A kid the gateway does not know is passed on, so the session service reads it through.
    source: async (kid) => (await bus.request('session.jwks.get', kid && kid.length <= 256 ? { kid } : {})).keys,
    threads: config.verifyThreads,
  });
  app.addHook('onClose', () => verifier.close());
  const limits = new SignInLimits(deps.rateLimitStore, {
    perIpPerMinute: config.rateLimitPerIpPerMinute,
    failuresPerAccount: config.loginFailuresPerAccount,
    failuresPerAccountUnknownClients: config.loginFailuresPerAccountUnknownClients,
    mailsPerAddressPerHour: config.mailPerAddressPerHour,
    refreshesPerIpPerMinute: config.rateLimitRefreshPerIpPerMinute,
  });
  const origins = allowedOrigins(config);
  const keys = new ApiKeyCache();
  const profiles = new ProfileCache({ ttlMs: config.profileCacheTtl * 1000 });
  const busFor = (request: { id: string }) => bus.for(request.id);
  const projects = new ProjectDirectory(parseAllowlist(config.redirectAllowlist));
  const { requireAuth, requireToken, requireAdminAuth } = authenticator({
    verifier,
    revocations,
    keys,
    busFor,
    hitIp: (ip) => limits.hitIp(ip),
    origins,
    config,
    maxStaleMs: config.accessTokenTtl * 1000,
  });
  const ctx: GatewayContext = {
    busFor,
    config,
    revocations,
    keys,
    profiles,
    limits,
    origins,
    redirects: parseAllowlist(config.redirectAllowlist),
    requireAuth,
    requireToken,
    requireAdminAuth,
    projects,
    audit: deps.audit,
  };

  if (tracingEnabled()) traceRequests(app);
  app.decorateRequest('auth', null);
  app.decorateRequest('project', null as unknown as NamedProject); // set by projectHook on every request
  registerJsonBodyParser(app);
  const headers = securityHeaders(config.publicUrl);
  // Every response, errors and 404s included; a route that may be cached (the JWKS) says so itself.
  // And every request's project, before its route (and its body) runs. One hook for both: a
  // hook is a cost on the hot path.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(headers);
    done(nameProject(request, projects));
  });
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) => {
    sendError(new AppError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`), request, reply);
  });
  if (config.corsOrigins.length > 0) {
    // Only the configured origins may call the API from a browser; none by default.
    await app.register(cors, {
      origin: config.corsOrigins,
      credentials: true,
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-api-key', 'x-csrf-token', 'x-request-id'],
      maxAge: 600,
    });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Gatehouse', version: '0.1.0', description: 'Self-hosted authentication: the HTTP API.' },
      servers: [{ url: config.publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'a user API key (uk_...)' },
          cookie: {
            type: 'apiKey',
            in: 'cookie',
            name: ACCESS_COOKIE,
            description: 'cookie mode ("auth_mode": "cookie")',
          },
        },
      },
    },
  });
  const https = config.publicUrl.startsWith('https:');
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // The UI's own policy (its scripts and styles from 'self'), in place of the API's `default-src 'none'`;
    // upgrading requests to https only when the API is served over https.
    staticCSP: true,
    transformStaticCSP: (csp) => (https ? csp : csp.replace(/\s*upgrade-insecure-requests;?/, '')),
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // A route that authenticates by its own preHandler says so in the document (plugins that
  // authenticate all their routes do it with requireAuthFor).
  app.addHook('onRoute', (route) => {
    if (usesCheck(route, ctx.requireAuth)) documentAuthRequired(route, true);
    else if (usesCheck(route, ctx.requireToken)) documentAuthRequired(route, false);
    else if (usesCheck(route, ctx.requireAdminAuth)) documentAuthRequired(route, true);
  });
  // Sign-in, one plugin per method; each ends in sign-in/complete-sign-in.ts. A new method
  // (social sign-in) is one more plugin here.
  await app.register(passwordSignIn, { ctx });
  await app.register(guestSignIn, { ctx });
  await app.register(magicLinkSignIn, { ctx });
  await app.register(passkeySignIn, { ctx });
  await app.register(secondFactorSignIn, { ctx });
  await app.register(socialSignIn, { ctx });
  await app.register(invitationSignIn, { ctx });
  // The signed-in user's sessions, account and second factors.
  await app.register(refreshRoutes, { ctx });
  await app.register(sessionRoutes, { ctx });
  await app.register(accountRoutes, { ctx });
  await app.register(passwordRoutes, { ctx });
  await app.register(emailVerificationRoutes, { ctx });
  await app.register(identityRoutes, { ctx });
  await app.register(totpRoutes, { ctx });
  await app.register(passkeyRoutes, { ctx });
  await app.register(apiKeyRoutes, { ctx });
  await app.register(adminUserRoutes, { ctx });
  await app.register(adminProjectRoutes, { ctx });
  await app.register(invitationRoutes, { ctx });
  await app.register(auditRoutes, { ctx });
  // The realtime channel: the events of the signed-in user, pushed.
  const realtime = new RealtimeHub({
    perUser: config.realtimeSocketsPerUser,
    perIp: config.realtimeSocketsPerIp,
    maxBufferedBytes: config.realtimeMaxBufferedBytes,
  });
  metrics.gauge('gatehouse_revocation_set_size', 'Revoked session ids this gateway holds', () => revocations.size);
  metrics.gauge('gatehouse_realtime_sockets', 'Open realtime sockets on this gateway', () => realtime.size);
  const upgrades = upgradeEmitter();
  routeUpgrades(app, upgrades);
  await app.register(realtimeRoutes, {
    ctx,
    hub: realtime,
    verifier,
    maxStaleMs: config.accessTokenTtl * 1000,
    upgrades,
  });
  // Pages and discovery.
  await app.register(confirmRoutes);
  await app.register(discoveryRoutes, { ctx, verifier, pingStore: () => deps.rateLimitStore.ping() });

  return { app, revocations, verifier, keys, profiles, projects, realtime };
}

/**
 * Builds the gateway, subscribes to revocations and key rotations, fills the
 * revocation set and the keys, and listens. Events are subscribed before the
 * set is loaded so that nothing revoked in between is missed.
 */
export async function startGateway(deps: GatewayDeps): Promise<{ app: FastifyInstance; close(): Promise<void> }> {
  const { bus, config, log } = deps;
  const gateway = await buildGateway(deps);
  const { revocations, verifier, keys, profiles, projects, realtime } = gateway;

  bus.subscribe('events.session.revoked', (event) => {
    for (const id of event.session_ids) revocations.add(id, event.until);
    profiles.dropUser(event.user_id);
    realtime.sessionsRevoked(event);
  });
  bus.subscribe('events.user.deleted', (event) => realtime.accountDeleted(event.user_id));
  bus.subscribe('events.user.password_changed', (event) => realtime.passwordChanged(event.user_id));
  // A key works with its user's role and while its user may sign in: a change to the user is
  // asked about again, a revoked key dropped.
  bus.subscribe('events.api_keys.revoked', (event) => keys.revoke(event.key_ids));
  // A created, changed or re-keyed project is reloaded: an old secret key stops naming it at once.
  const reloadProject = async (projectId: string) => {
    const { projects: found } = await bus.request('identity.project.directory', { project_id: projectId });
    if (found.length === 0) projects.remove(projectId);
    for (const entry of found) projects.put(entry);
  };
  bus.subscribe('events.project.changed', (event) => {
    // The entry as it now is, applied here and now: the change holds on this replica by the
    // time the changing call has answered (its event was flushed first).
    if (event.projects) {
      if (event.projects.length === 0) projects.remove(event.project_id);
      for (const entry of event.projects) projects.put(entry);
      return;
    }
    return reloadProject(event.project_id).catch((err) => {
      // Until the next full reload the project keeps what this gateway knew; its old secret
      // key goes on working here that long (PROJECT_RELOAD_MS).
      log.error({ err, projectId: event.project_id }, 'could not reload a changed project');
    });
  });
  for (const subject of ['events.user.updated', 'events.user.deleted', 'events.user.password_changed'] as const) {
    bus.subscribe(subject, (event) => {
      keys.dropUser(event.user_id);
      profiles.dropUser(event.user_id);
    });
  }
  bus.subscribe('events.keys.rotated', (event) => verifier.refreshKeys(event.kid));

  let closed = false;
  const sync = async () => {
    const since = revocations.losses;
    const { revoked } = await bus.request('session.revocation.list', {});
    for (const { session_id, until } of revoked) revocations.add(session_id, until);
    projects.replaceAll((await bus.request('identity.project.directory', {})).projects);
    await verifier.refreshKeys();
    if (!revocations.markSynced(since)) throw new Error('the bus was lost again during the reload');
  };
  // Events may be missed while NATS is away: from the disconnect until a full reload has
  // succeeded the set is stale, and past ACCESS_TOKEN_TTL the gateway refuses tokens (503).
  bus.transport.onDisconnect(() => {
    revocations.markStale();
    keys.clear();
    profiles.clear();
  });
  let resyncing = false;
  bus.transport.onReconnect(() => {
    revocations.markStale();
    keys.clear();
    profiles.clear();
    // One reload at a time; one running when the bus is lost again sees it and goes round again.
    if (resyncing) return;
    resyncing = true;
    void retry(sync, log, () => closed)
      .then(() => {
        // The events sent while the bus was away never reach these sockets: their clients
        // reconnect and re-check their sessions.
        if (!closed) realtime.closeAll(REALTIME_CLOSE.resync, 'events may have been missed: reconnect');
      })
      .finally(() => {
        resyncing = false;
      });
  });
  await retry(sync, log, () => closed);

  const pruner = setInterval(() => {
    revocations.prune();
    keys.prune();
    profiles.prune();
  }, 60_000);
  pruner.unref();
  const heartbeat = setInterval(() => realtime.heartbeat(), config.realtimePingInterval * 1000);
  heartbeat.unref();
  // last_used_at without a write per request: the uses of the last period, in one message.
  const touchUses = async () => {
    const uses = keys.takeUses();
    if (uses.length === 0) return;
    await bus.request('identity.api_key.touch', { uses }).catch((err) => {
      log.warn({ err, keys: uses.length }, 'could not record API key uses');
    });
  };
  const toucher = setInterval(() => void touchUses(), API_KEY_TOUCH_MS);
  toucher.unref();
  // The whole directory now and then: what the command-line tool changed (it has no bus), and
  // any event this gateway missed.
  const reloader = setInterval(() => {
    bus
      .request('identity.project.directory', {})
      .then(({ projects: all }) => projects.replaceAll(all))
      .catch((err) => log.warn({ err }, 'could not reload the projects'));
  }, PROJECT_RELOAD_MS);
  reloader.unref();
  await gateway.app.listen({ port: config.port, host: config.host });
  return {
    app: gateway.app,
    close: async () => {
      closed = true;
      clearInterval(pruner);
      clearInterval(heartbeat);
      clearInterval(toucher);
      clearInterval(reloader);
      await touchUses();
      await gateway.app.close();
    },
  };
}

/**
 * TRUST_PROXY as Fastify's trust function (proxy-addr: called with each hop,
 * the socket's peer first, then X-Forwarded-For from right to left; the
 * client is the first hop not trusted). A hop count trusts the nearest N hops
 * whatever their address, which is only right when the gateway can be reached
 * through the proxies alone; Fastify refuses bare hop counts for that reason,
 * so it is written out here. Addresses and CIDRs are the safer setting.
 */
function trustFunction(trust: Config['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return trust;
}

/**
 * Until the session and identity services answer (or `stopped`): the gateway must not serve
 * without the revocation set, the projects and the keys, nor stop reloading them after a reconnect.
 */
async function retry(fn: () => Promise<void>, log: Logger, stopped: () => boolean): Promise<void> {
  for (let attempt = 1; !stopped(); attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt % 10 === 1) {
        log.warn({ err, attempt }, 'waiting for the services to load the revocation list, projects and signing keys');
      }
      await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2000)));
    }
  }
}
