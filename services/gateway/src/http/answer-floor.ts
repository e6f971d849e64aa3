import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How soon an answer whose work depends on whether an account exists may leave:
 * the few milliseconds the extra work takes (a mail queued, a user's passkeys
 * listed) then do not tell which addresses have accounts.
 */
export const ANSWER_FLOOR_MS = 250;

/** Waits until `floorMs` have passed since `startedAt` (a `performance.now()` reading). */
export async function answerNoSoonerThan(startedAt: number, floorMs = ANSWER_FLOOR_MS): Promise<void> {
  const wait = startedAt + floorMs - performance.now();
  if (wait > 0) await sleep(wait);
}
