import {
  connectBusWithTransport,
  createLogger,
  createRedis,
  environment,
  JetStreamAuditQueue,
  loadConfig,
  metrics,
  Shutdown,
  startTracing,
  traceRedis,
} from '@gatehouse/kit';
import { RedisRateLimitStore, startGateway } from './app.ts';

const config = loadConfig(environment());
const log = createLogger({ service: 'gateway', level: config.logLevel });
if (!config.redisUrl) throw new Error('REDIS_URL is required when the gateway runs on its own');

const shutdown = new Shutdown(log);
shutdown.listen();
// The gateway serves /healthz, /readyz and /metrics on PORT itself.
metrics.collectDefaults();
// Traces when the OTEL_* variables ask for them; started before the app is built, which then
// traces every request. Registered first, so it runs last.
const tracing = startTracing('gateway');
if (tracing) shutdown.add('tracing', () => tracing.shutdown());
const { bus, transport } = await connectBusWithTransport(config, 'gateway', log);
shutdown.add('bus', () => transport.close());
// Audit events go to JetStream on the bus's connection. The gateway only publishes (identity
// creates the AUDIT stream and writes it): nothing to wait for. Closed after the HTTP server, so
// the last requests' events are still published.
const audit = await JetStreamAuditQueue.open({ connection: transport.connection, log, manageStreams: false });
shutdown.add('audit queue', () => audit.close());
// Fail fast while Redis is down (a 503), reconnect forever in the background.
// One server, Sentinel or Cluster, credentials and TLS: all from REDIS_URL and REDIS_TLS_CA (kit createRedis).
const redis = createRedis(config, {
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  connectTimeout: 2000,
});
redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
traceRedis(redis);
shutdown.add('redis', () => redis.quit());
const gateway = await startGateway({ bus, config, log, rateLimitStore: new RedisRateLimitStore(redis), audit });
shutdown.add('http', () => gateway.close());
log.info({ port: config.port, publicUrl: config.publicUrl }, 'gateway listening');
