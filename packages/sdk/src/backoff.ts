export interface BackoffOptions {
  /** The first delay's ceiling, in ms (500). */
  baseMs?: number;
  /** The largest delay, in ms (30 000). */
  maxMs?: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first): exponential, capped, with
 * jitter. With `d = min(maxMs, baseMs * 2^attempt)` it lies in `[d / 2, d]`, so clients that
 * lost their sockets together do not come back together, and none waits more than `maxMs`.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
