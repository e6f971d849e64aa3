import {
  type Bus,
  connectBusWithTransport,
  connectRedis,
  createLogger,
  environment,
  JetStreamAuditQueue,
  loadConfig,
  requireSecretKey,
  Shutdown,
  selfCheck,
  serveOperations,
} from '@gatehouse/kit';
import { RedisSessionStore, startSession } from './app.ts';

const config = loadConfig(environment());
const log = createLogger({ service: 'session', level: config.logLevel });
const secretKey = requireSecretKey(config);

const shutdown = new Shutdown(log);
shutdown.listen();
// The probes first (the orchestrator sees a live process while it waits for Redis and NATS).
let bus: Bus | undefined;
await serveOperations('session', config, log, shutdown, () => selfCheck(bus, 'session.health.check'));
// One server, Sentinel or Cluster, credentials and TLS: all from REDIS_URL and REDIS_TLS_CA (kit createRedis).
const redis = await connectRedis(config, 'session', log, shutdown);

const connected = await connectBusWithTransport(config, 'session', log);
bus = connected.bus;
const { transport } = connected;
shutdown.add('bus', () => transport.close());
// Refresh-token reuse goes to the audit log over JetStream, on the bus's connection. The session
// service only publishes (identity creates the AUDIT stream and writes it): nothing to wait for.
const audit = await JetStreamAuditQueue.open({ connection: transport.connection, log, manageStreams: false });
shutdown.add('audit queue', () => audit.close());
// Sessions and signing keys in the one Redis.
const store = new RedisSessionStore(redis);
// What an earlier release stored before shards and hash tags, moved before anything reads it.
const moved = await store.migrateLegacyLayout(Date.now());
if (moved > 0) log.info({ sessions: moved }, 'sessions moved to their shards');
const service = await startSession({
  bus,
  sessionStore: store,
  keyStore: store,
  config,
  log,
  secretKey,
  previousSecretKeys: config.secretKeyPrevious,
  audit,
});
shutdown.add('session', () => service.close());
// Runs first at SIGTERM: no new request comes here (the other replicas take them), the ones in hand
// are answered while the queues, the stores and the connection are still open.
shutdown.add('requests', () => transport.stopServing());
log.info('session ready');
