import {
  type Bus,
  connectBusWithTransport,
  connectRedis,
  createLogger,
  environment,
  JetStreamAuditQueue,
  JetStreamMailQueue,
  loadConfig,
  Shutdown,
  selfCheck,
  serveOperations,
  waitFor,
} from '@gatehouse/kit';
import { MemoryFlowStore, migrate, openDatabase, RedisFlowStore, startIdentity } from './app.ts';

// Stack mode: identity on its own, against NATS and a real Postgres.
const config = loadConfig(environment());
const log = createLogger({ service: 'identity', level: config.logLevel });
if (!config.databaseUrl) {
  // The embedded PGlite belongs to the single-process mode; replicas need one shared database.
  log.fatal('DATABASE_URL is required when identity runs on its own');
  process.exit(1);
}
const shutdown = new Shutdown(log);
shutdown.listen();
// The probes first (the orchestrator sees a live process while it waits for NATS and Postgres);
// ready once this process's own health check answers.
let bus: Bus | undefined;
await serveOperations('identity', config, log, shutdown, () => selfCheck(bus, 'identity.health.check'));
const connected = await connectBusWithTransport(config, 'identity', log);
bus = connected.bus;
const { transport } = connected;
const db = await openDatabase({
  databaseUrl: config.databaseUrl,
  dataDir: config.dataDir,
  log,
  pool: { max: config.databasePoolSize },
});
// Closers run newest first: stop taking messages, then close the database.
shutdown.add('database', () => db.destroy());
shutdown.add('bus', () => transport.close());

// Postgres may start after us (compose, a pod restart): wait for it, as connectBusWithTransport waits for NATS.
await waitFor('Postgres', () => migrate(db), log);
// The mail queue (JetStream) shares the bus's connection; it waits for JetStream as for Postgres.
// Identity only publishes jobs: the mailer owns the streams (identity's NATS user may not create,
// change or read them), so until the mailer has created them this waits too.
const mail = await waitFor(
  'JetStream',
  () => JetStreamMailQueue.open({ connection: transport.connection, log, manageStreams: false }),
  log,
);
shutdown.add('mail queue', () => mail.close());
// Identity writes the audit log: it creates the AUDIT stream (the gateway and the session service
// may only publish to it) and consumes it, on the bus's connection too.
const audit = await waitFor(
  'JetStream',
  () => JetStreamAuditQueue.open({ connection: transport.connection, log, replicas: config.jetstreamReplicas }),
  log,
);
shutdown.add('audit queue', () => audit.close());
// Social sign-in flows live in Redis, so any replica finishes a flow another began. Without a
// provider configured there are none, and identity needs no Redis.
const flows = config.oauthProviders.length
  ? new RedisFlowStore(await connectRedis(config, 'identity', log, shutdown))
  : new MemoryFlowStore();
const service = await startIdentity({ bus, db, config, mail, audit, flows, log });
shutdown.add('identity', () => service.close());
// Runs first at SIGTERM: no new request comes here (the other replicas take them), the ones in hand
// are answered while the queues, the stores and the connection are still open.
shutdown.add('requests', () => transport.stopServing());
log.info('identity ready');
