import type { Logger } from 'pino';
import { Bus } from './bus/bus.ts';
import { NatsTransport } from './bus/nats.ts';
import { natsSecurity } from './bus/nats-options.ts';
import type { Config } from './config.ts';

/**
 * Stack mode: the NATS transport over NATS_URL for the service called `name`,
 * with the configuration's credentials and TLS (NATS_NKEY or NATS_CREDS or URL
 * credentials, NATS_TLS_*) and the inbox prefix `_INBOX.<name>`. Waits for
 * NATS as long as it takes (a service is useless without it).
 */
export async function connectNats(config: Config, name: string, log: Logger): Promise<NatsTransport> {
  if (!config.natsUrl) throw new Error('NATS_URL is required when a service runs on its own');
  const transport = await NatsTransport.connect(config.natsUrl, name, log, natsSecurity(config));
  // Closed for good (the server refused this service's credentials on a reconnect): a service
  // without its bus is useless, so shut down (gracefully, through Shutdown's SIGTERM handler) and
  // let the supervisor (compose, Kubernetes) start it again, reading its credentials afresh.
  transport.onClosed(() => process.kill(process.pid, 'SIGTERM'));
  return transport;
}

/**
 * Stack mode: the bus over NATS (see connectNats) for the service called
 * `name`, with its transport, for a client that shares the one connection
 * (the JetStream mail queue takes `transport.connection`).
 */
export async function connectBusWithTransport(
  config: Config,
  name: string,
  log: Logger,
): Promise<{ bus: Bus; transport: NatsTransport }> {
  const transport = await connectNats(config, name, log);
  return { bus: new Bus(transport, log, { timeoutMs: config.busTimeoutMs }), transport };
}

/** Stack mode: the bus over NATS (see connectNats), for the service called `name`. */
export async function connectBus(config: Config, name: string, log: Logger): Promise<Bus> {
  return (await connectBusWithTransport(config, name, log)).bus;
}
