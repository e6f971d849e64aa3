import { unavailable } from '@gatehouse/kit';
import type { Redis, Result } from 'ioredis';

/** A counter in a fixed window: how many hits so far, and when the window ends. */
export interface WindowCount {
  count: number;
  /** Milliseconds until the window (and its count) ends. */
  resetInMs: number;
}

/**
 * Counters for rate limits, shared by every gateway replica (Redis) or kept in
 * the process (embedded mode). One contract suite runs against both.
 */
export interface RateLimitStore {
  /** Adds one hit to `key` and returns the window's count including it. */
  hit(key: string, windowMs: number): Promise<WindowCount>;
  /** The window's count without adding a hit (0 when there is none). */
  peek(key: string): Promise<WindowCount>;
  /** `hit(hitKey)` and `peek(peekKey)` in one round trip (the sign-in path checks both). */
  hitAndPeek(hitKey: string, windowMs: number, peekKey: string): Promise<[WindowCount, WindowCount]>;
  /** Forgets `key`. */
  reset(key: string): Promise<void>;
  ping(): Promise<void>;
}

/** In-process counters for the embedded mode. */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #windows = new Map<string, { count: number; endsAt: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async hit(key: string, windowMs: number): Promise<WindowCount> {
    const now = this.#now();
    let w = this.#windows.get(key);
    if (!w || w.endsAt <= now) {
      if (this.#windows.size > 100_000) this.#sweep(now);
      w = { count: 0, endsAt: now + windowMs };
      this.#windows.set(key, w);
    }
    w.count++;
    return { count: w.count, resetInMs: w.endsAt - now };
  }

  async peek(key: string): Promise<WindowCount> {
    const now = this.#now();
    const w = this.#windows.get(key);
    if (!w || w.endsAt <= now) return { count: 0, resetInMs: 0 };
    return { count: w.count, resetInMs: w.endsAt - now };
  }

  async hitAndPeek(hitKey: string, windowMs: number, peekKey: string): Promise<[WindowCount, WindowCount]> {
    return [await this.hit(hitKey, windowMs), await this.peek(peekKey)];
  }

  async reset(key: string): Promise<void> {
    this.#windows.delete(key);
  }

  async ping(): Promise<void> {}

  #sweep(now: number): void {
    for (const [k, w] of this.#windows) if (w.endsAt <= now) this.#windows.delete(k);
  }
}

// INCR, and start the window's expiry with the first hit only (PEXPIRE NX needs
// Redis 7; this form works on every version). One round trip, atomic.
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
if KEYS[2] then
  local other = tonumber(redis.call('GET', KEYS[2]) or '0')
  local otherTtl = redis.call('PTTL', KEYS[2])
  return {n, ttl, other, otherTtl}
end
return {n, ttl}`;

// Registered with defineCommand, so that ioredis sends EVALSHA (the script's
// digest, not its text, on every sign-in) and falls back to EVAL once when the
// server does not know the script yet. Called as (numberOfKeys, ...keys, windowMs).
declare module 'ioredis' {
  interface RedisCommander<Context> {
    ghRateHit(...args: (string | number)[]): Result<number[], Context>;
  }
}

/** Counters in Redis, shared by every gateway replica. Redis errors become `service_unavailable`. */
export class RedisRateLimitStore implements RateLimitStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix = 'gh:rl:') {
    this.#redis = redis;
    this.#prefix = prefix;
    redis.defineCommand('ghRateHit', { lua: HIT });
  }

  async hit(key: string, windowMs: number): Promise<WindowCount> {
    try {
      const [count, ttl] = (await this.#redis.ghRateHit(1, this.#prefix + key, windowMs)) as [number, number];
      return { count, resetInMs: ttl };
    } catch (err) {
      throw unavailable('the rate limiter', err);
    }
  }

  async hitAndPeek(hitKey: string, windowMs: number, peekKey: string): Promise<[WindowCount, WindowCount]> {
    try {
      const [count, ttl, other, otherTtl] = (await this.#redis.ghRateHit(
        2,
        this.#prefix + hitKey,
        this.#prefix + peekKey,
        windowMs,
      )) as [number, number, number, number];
      return [
        { count, resetInMs: ttl },
        other === 0 ? { count: 0, resetInMs: 0 } : { count: other, resetInMs: Math.max(otherTtl, 0) },
      ];
    } catch (err) {
      throw unavailable('the rate limiter', err);
    }
  }

  async peek(key: string): Promise<WindowCount> {
    try {
      const [value, ttl] = await Promise.all([
        this.#redis.get(this.#prefix + key),
        this.#redis.pttl(this.#prefix + key),
      ]);
      return value === null ? { count: 0, resetInMs: 0 } : { count: Number(value), resetInMs: Math.max(ttl, 0) };
    } catch (err) {
      throw unavailable('the rate limiter', err);
    }
  }

  async reset(key: string): Promise<void> {
    try {
      await this.#redis.del(this.#prefix + key);
    } catch (err) {
      throw unavailable('the rate limiter', err);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.#redis.ping();
    } catch (err) {
      throw unavailable('redis', err);
    }
  }
}
