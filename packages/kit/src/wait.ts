import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { isAppError } from './errors.ts';

/**
 * Runs `attempt` until it stops failing with `service_unavailable`, logging
 * "waiting for <what>" every try: a service started before its Postgres or
 * JetStream (compose, a pod restart) waits for it, as connectBus waits for NATS.
 * Any other error is thrown at once.
 */
export async function waitFor<T>(what: string, attempt: () => Promise<T>, log: Logger, everyMs = 2_000): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (!isAppError(err, 'service_unavailable')) throw err;
      log.warn(`waiting for ${what}`);
      await sleep(everyMs);
    }
  }
}
