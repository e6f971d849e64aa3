// Test support only: the gateway alone on an in-process bus with nothing behind it.
import { Bus, createLogger, InProcessTransport, loadConfig } from '@gatehouse/kit';
import type { FastifyInstance } from 'fastify';
import { buildGateway, MemoryRateLimitStore } from './app.ts';

/** A gateway whose every bus request fails fast (200 ms): the edge's own behaviour, for `inject`. */
export async function bareGateway(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const log = createLogger({ service: 'test', level: 'silent' });
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 200 });
  const { app } = await buildGateway({ bus, log, config: loadConfig(env), rateLimitStore: new MemoryRateLimitStore() });
  return app;
}
