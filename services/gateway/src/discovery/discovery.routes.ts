import { ErrorBody, Jwk } from '@gatehouse/contracts';
import { metrics } from '@gatehouse/kit';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { TokenVerifier } from '../auth/token-verifier.ts';
import type { GatewayContext } from '../gateway-context.ts';

const HEALTH_SUBJECTS = [
  'identity.health.check',
  'session.health.check',
  'mfa.health.check',
  'mailer.health.check',
] as const;
const READY_TIMEOUT_MS = 1500;

/** Key discovery and operations: JWKS, OpenID configuration, liveness and readiness. */
export const discoveryRoutes: FastifyPluginAsync<{
  ctx: GatewayContext;
  verifier: TokenVerifier;
  pingStore: () => Promise<void>;
}> = async (app, { ctx, verifier, pingStore }) => {
  const { config } = ctx;

  app.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['discovery'], response: { 200: Type.Object({ keys: Type.Array(Jwk) }), 503: ErrorBody } } },
    async (_request, reply) => {
      const keys = await verifier.jwks();
      reply.header('cache-control', 'public, max-age=300');
      return { keys };
    },
  );

  app.get('/.well-known/openid-configuration', { schema: { tags: ['discovery'] } }, async () => ({
    issuer: config.publicUrl,
    jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
    id_token_signing_alg_values_supported: [config.signingAlg],
    token_endpoint: `${config.publicUrl}/auth/refresh`,
    userinfo_endpoint: `${config.publicUrl}/auth/me`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    grant_types_supported: ['password', 'refresh_token'],
    claims_supported: ['iss', 'aud', 'sub', 'sid', 'role', 'amr', 'auth_time', 'iat', 'exp'],
  }));

  app.get('/healthz', { schema: { tags: ['operations'] } }, async () => ({ status: 'ok' }));

  // This process's metrics (embedded: every service's, they share the process), Prometheus text.
  if (ctx.config.metrics)
    app.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics',
          produces: ['text/plain'],
          response: { 200: { type: 'string', description: 'Prometheus text exposition format' } },
        },
      },
      async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()),
    );

  // This gateway alone: may it take traffic? Its Redis answers and its revocation set is in sync
  // (a gateway that lost NATS has reloaded it). Not the services behind the bus: their outage is
  // every replica's, and failing this probe for it would take every gateway out of the load
  // balancer (Kubernetes' readiness probe points here; /readyz is the whole stack's).
  app.get(
    '/readyz/gateway',
    {
      schema: {
        tags: ['operations'],
        summary: "This gateway's readiness (its Redis, its revocation set), not the services'",
        response: { 200: Type.Object({ status: Type.Literal('ready') }), 503: ErrorBody },
      },
    },
    async (_request, reply) => {
      const failing: string[] = [];
      if (ctx.revocations.staleForMs() > 0) failing.push('revocation_set');
      await pingStore().catch(() => failing.push('rate_limit_store'));
      if (failing.length === 0) return { status: 'ready' as const };
      reply.header('retry-after', '2');
      return reply.code(503).send({
        error: 'service_unavailable',
        message: `not ready: ${failing.join(', ')}`,
        details: failing.map((name) => ({ dependency: name })),
      });
    },
  );

  // The whole stack behind this gateway: every service answers over the bus, and its Redis.
  app.get('/readyz', { schema: { tags: ['operations'] } }, async (request, reply) => {
    const checks = await Promise.allSettled([
      ...HEALTH_SUBJECTS.map((subject) => ctx.busFor(request).request(subject, {}, { timeoutMs: READY_TIMEOUT_MS })),
      pingStore(),
    ]);
    const names = [...HEALTH_SUBJECTS.map((s) => s.split('.')[0] as string), 'rate_limit_store'];
    const failing = names.filter((_, i) => checks[i]?.status === 'rejected');
    if (failing.length === 0) return { status: 'ready' };
    reply.header('retry-after', '2');
    return reply.code(503).send({
      error: 'service_unavailable',
      message: `not ready: ${failing.join(', ')}`,
      details: failing.map((name) => ({ dependency: name })),
    });
  });
};
