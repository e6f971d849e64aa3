import type { Logger } from 'pino';
import { Bus } from './bus/bus.ts';
import { NatsTransport } from './bus/nats.ts';
import type { Config } from './config.ts';

/**
 * Stack mode: the bus over NATS_URL, for the service called `name`.
 * Waits for NATS as long as it takes (a service is useless without it).
 */
export async function connectBus(config: Config, name: string, log: Logger): Promise<Bus> {
  if (!config.natsUrl) throw new Error('NATS_URL is required when a service runs on its own');
  const transport = await NatsTransport.connect(config.natsUrl, name, log);
  return new Bus(transport, log, { timeoutMs: config.busTimeoutMs });
}
