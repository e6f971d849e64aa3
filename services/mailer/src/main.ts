import {
  type Bus,
  connectBusWithTransport,
  createLogger,
  environment,
  JetStreamMailQueue,
  loadConfig,
  Shutdown,
  selfCheck,
  serveOperations,
  waitFor,
} from '@gatehouse/kit';
import { startMailer } from './app.ts';

const config = loadConfig(environment());
const log = createLogger({ service: 'mailer', level: config.logLevel });
const shutdown = new Shutdown(log);
shutdown.listen();
if (!config.natsUrl) throw new Error('NATS_URL is required when the mailer runs on its own');
// The probes first (the orchestrator sees a live process while it waits for NATS and JetStream).
let ready: Bus | undefined;
await serveOperations('mailer', config, log, shutdown, () => selfCheck(ready, 'mailer.health.check'));
// One connection for the bus and the queue, with the mailer's NATS credentials (NATS_NKEY...).
const { bus, transport } = await connectBusWithTransport(config, 'mailer', log);
ready = bus;
shutdown.add('bus', () => transport.close());
// JetStream may answer a moment after NATS accepts connections: wait for it as for NATS.
const queue = await waitFor(
  'JetStream',
  () => JetStreamMailQueue.open({ connection: transport.connection, log, replicas: config.jetstreamReplicas }),
  log,
);
shutdown.add('mail queue', () => queue.close());
const mailer = await startMailer({ bus, queue, config, log });
// Runs first on SIGTERM: stop taking jobs; the one in hand finishes, one fetched but not started goes back.
shutdown.add('mailer', () => mailer.close());
log.info('mailer ready');
