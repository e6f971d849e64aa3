import { createHash } from 'node:crypto';
import { AppError, type RedisClient, unavailable } from '@gatehouse/kit';

/**
 * What a social sign-in keeps between its steps: the `state` of a flow begun
 * (10 minutes, until the provider sends the browser back), the one-time
 * exchange code of a flow finished (60 seconds, until the app trades it), and
 * the link token that begins a linking flow for a signed-in user.
 */
export type FlowKind = 'state' | 'exchange' | 'link';

/**
 * Short-lived single-use secrets. Each is stored under a SHA-256 of itself
 * (256 random bits need no salt or stretching), so a dump of the store yields
 * no usable state or code. `take` removes what it returns in the same step,
 * so of two uses of one secret only one gets the value. The stack keeps them
 * in Redis (any identity replica finishes a flow another began); embedded
 * mode in memory. Throws `service_unavailable` when the store is down.
 */
export interface FlowStore {
  put(kind: FlowKind, secret: string, value: string, ttlSeconds: number): Promise<void>;
  /** The value, once; null when unknown, used or expired. */
  take(kind: FlowKind, secret: string): Promise<string | null>;
}

const keyOf = (kind: FlowKind, secret: string, prefix = 'gh:oauth:') =>
  `${prefix}${kind}:${createHash('sha256').update(secret).digest('base64url')}`;

/** The stack's store: SET with EX, then GETDEL (Redis 6.2 or later), one command each. */
export class RedisFlowStore implements FlowStore {
  readonly #redis: RedisClient;
  readonly #prefix: string;

  /** `prefix`: the key space (tests give each store its own). */
  constructor(redis: RedisClient, options: { prefix?: string } = {}) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'gh:oauth:';
  }

  async put(kind: FlowKind, secret: string, value: string, ttlSeconds: number): Promise<void> {
    try {
      await this.#redis.set(keyOf(kind, secret, this.#prefix), value, 'EX', ttlSeconds);
    } catch (err) {
      throw unavailable('the sign-in flow store', err);
    }
  }

  async take(kind: FlowKind, secret: string): Promise<string | null> {
    try {
      return await this.#redis.getdel(keyOf(kind, secret, this.#prefix));
    } catch (err) {
      throw unavailable('the sign-in flow store', err);
    }
  }
}

/**
 * Embedded mode's store: one process, so a Map. Bounded: past `maxEntries`
 * the expired go first, and if none has expired a new flow is refused
 * (503) rather than letting a flood of started flows grow memory without end.
 */
export class MemoryFlowStore implements FlowStore {
  readonly #entries = new Map<string, { value: string; expiresAt: number }>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  async put(kind: FlowKind, secret: string, value: string, ttlSeconds: number): Promise<void> {
    if (this.#entries.size >= this.#maxEntries) {
      const now = this.#now();
      for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
      if (this.#entries.size >= this.#maxEntries) {
        throw new AppError('service_unavailable', 'too many sign-in flows in progress', { retryAfter: 10 });
      }
    }
    this.#entries.set(keyOf(kind, secret), { value, expiresAt: this.#now() + ttlSeconds * 1000 });
  }

  async take(kind: FlowKind, secret: string): Promise<string | null> {
    const key = keyOf(kind, secret);
    const entry = this.#entries.get(key);
    this.#entries.delete(key);
    if (!entry || entry.expiresAt <= this.#now()) return null;
    return entry.value;
  }
}
