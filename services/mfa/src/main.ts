import { openDatabase } from '@gatehouse/db';
import {
  type Bus,
  connectBus,
  createLogger,
  environment,
  loadConfig,
  requireSecretKey,
  Shutdown,
  selfCheck,
  serveOperations,
  waitFor,
} from '@gatehouse/kit';
import { type MfaDatabase, migrate, startMfa } from './app.ts';

// Stack mode: mfa on its own, against NATS and a real Postgres.
const config = loadConfig(environment());
const log = createLogger({ service: 'mfa', level: config.logLevel });
if (!config.databaseUrl) {
  // The embedded PGlite belongs to the single-process mode; replicas need one shared database.
  log.fatal('DATABASE_URL is required when mfa runs on its own');
  process.exit(1);
}
const secretKey = requireSecretKey(config);
const shutdown = new Shutdown(log);
shutdown.listen();
// The probes first (the orchestrator sees a live process while it waits for NATS and Postgres).
let ready: Bus | undefined;
await serveOperations('mfa', config, log, shutdown, () => selfCheck(ready, 'mfa.health.check'));
const bus = await connectBus(config, 'mfa', log);
ready = bus;
const db = await openDatabase<MfaDatabase>({
  databaseUrl: config.databaseUrl,
  dataDir: config.dataDir,
  log,
  pool: { max: config.databasePoolSize },
});
// Closers run newest first: stop taking messages, then close the database.
shutdown.add('database', () => db.destroy());
shutdown.add('bus', () => bus.transport.close());

// Postgres may start after us (compose, a pod restart): wait for it, as connectBus waits for NATS.
await waitFor('Postgres', () => migrate(db), log);
const service = await startMfa({
  bus,
  db,
  config,
  secretKey,
  previousSecretKeys: config.secretKeyPrevious,
  log,
});
shutdown.add('mfa', () => service.close());
// Runs first at SIGTERM: no new request comes here (the other replicas take them), the ones in hand
// are answered while the queues, the stores and the connection are still open.
shutdown.add('requests', () => bus.transport.stopServing());
log.info('mfa ready');
