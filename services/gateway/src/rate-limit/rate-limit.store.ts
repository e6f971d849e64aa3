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
  /**
   * A password sign-in's two limits in one atomic step: counts a hit on `hitKey`
   * (the address) and, unless that is over `hitLimit`, claims an attempt on
   * `claimKey` (the account) unless it already holds `claimLimit`. The claim is
   * taken before the password is checked, so concurrent guesses cannot pass the
   * limit; a sign-in that does not fail on the password gives it back (`refund`
   * or `reset`).
   */
  hitAndClaim(hit: ClaimHit, claim: ClaimAttempt): Promise<[WindowCount, Claim]>;
  /** Gives one claimed attempt back (never below zero). */
  refund(key: string): Promise<void>;
  /** Forgets `key`. */
  reset(key: string): Promise<void>;
  ping(): Promise<void>;
}

/** The per-address half of `hitAndClaim`. */
export interface ClaimHit {
  key: string;
  windowMs: number;
  /** Over this count the request is refused, and nothing is claimed. */
  limit: number;
}

/** The per-account half of `hitAndClaim`. */
export interface ClaimAttempt {
  key: string;
  /** The window of the account's count, started by its first claim. */
  windowMs: number;
  /** The count at which claims are refused. */
  limit: number;
}

/** What a claim came to: `claimed` false when the account's count was already at its limit (or the hit over its). */
export interface Claim extends WindowCount {
  claimed: boolean;
}

/** In-process counters for the embedded mode. */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #windows = new Map<string, { count: number; endsAt: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async hit(key: string, windowMs: number): Promise<WindowCount> {
    return this.#count(key, windowMs);
  }

  #count(key: string, windowMs: number): WindowCount {
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

  async hitAndClaim(hit: ClaimHit, claim: ClaimAttempt): Promise<[WindowCount, Claim]> {
    // No await between the reads and the writes: one step, as the Redis script is.
    const perHit = this.#count(hit.key, hit.windowMs);
    const now = this.#now();
    const current = this.#windows.get(claim.key);
    const held = current && current.endsAt > now ? current : undefined;
    if (perHit.count > hit.limit || (held?.count ?? 0) >= claim.limit) {
      return [perHit, held ? { claimed: false, count: held.count, resetInMs: held.endsAt - now } : unclaimed];
    }
    return [perHit, { claimed: true, ...this.#count(claim.key, claim.windowMs) }];
  }

  async refund(key: string): Promise<void> {
    const w = this.#windows.get(key);
    if (!w) return;
    if (w.count <= 1) this.#windows.delete(key);
    else w.count--;
  }

  async reset(key: string): Promise<void> {
    this.#windows.delete(key);
  }

  async ping(): Promise<void> {}

  #sweep(now: number): void {
    for (const [k, w] of this.#windows) if (w.endsAt <= now) this.#windows.delete(k);
  }
}

const unclaimed: Claim = { claimed: false, count: 0, resetInMs: 0 };

// INCR, and start the window's expiry with the first hit only (PEXPIRE NX needs
// Redis 7; this form works on every version). One round trip, atomic.
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

// The address's hit (as HIT), then the account's claim: refused at the limit
// (nothing added), else INCR with the window started by the first claim.
// KEYS: address, account. ARGV: address window, address limit, account window,
// account limit. Returns {hits, hitsTtl, claims, claimsTtl, claimed (0/1)}.
const CLAIM = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
local c = tonumber(redis.call('GET', KEYS[2]) or '0')
if n > tonumber(ARGV[2]) or c >= tonumber(ARGV[4]) then
  return {n, ttl, c, math.max(redis.call('PTTL', KEYS[2]), 0), 0}
end
c = redis.call('INCR', KEYS[2])
if c == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
local cttl = redis.call('PTTL', KEYS[2])
if cttl < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]); cttl = tonumber(ARGV[3]) end
return {n, ttl, c, cttl, 1}`;

// One claim back: DECR, and the key goes at zero (never negative).
const REFUND = `
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c <= 1 then redis.call('DEL', KEYS[1]) else redis.call('DECR', KEYS[1]) end
return 1`;

// Registered with defineCommand, so that ioredis sends EVALSHA (the script's
// digest, not its text, on every sign-in) and falls back to EVAL once when the
// server does not know the script yet. Called as (numberOfKeys, ...keys, windowMs).
declare module 'ioredis' {
  interface RedisCommander<Context> {
    ghRateHit(...args: (string | number)[]): Result<number[], Context>;
    ghRateClaim(...args: (string | number)[]): Result<number[], Context>;
    ghRateRefund(key: string): Result<number, Context>;
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
    redis.defineCommand('ghRateClaim', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('ghRateRefund', { numberOfKeys: 1, lua: REFUND });
  }

  async hit(key: string, windowMs: number): Promise<WindowCount> {
    try {
      const [count, ttl] = (await this.#redis.ghRateHit(1, this.#prefix + key, windowMs)) as [number, number];
      return { count, resetInMs: ttl };
    } catch (err) {
      throw unavailable('the rate limiter', err);
    }
  }

  async hitAndClaim(hit: ClaimHit, claim: ClaimAttempt): Promise<[WindowCount, Claim]> {
    try {
      const [count, ttl, claims, claimsTtl, claimed] = (await this.#redis.ghRateClaim(
        this.#prefix + hit.key,
        this.#prefix + claim.key,
        hit.windowMs,
        hit.limit,
        claim.windowMs,
        claim.limit,
      )) as [number, number, number, number, number];
      return [
        { count, resetInMs: ttl },
        claims === 0 ? unclaimed : { claimed: claimed === 1, count: claims, resetInMs: claimsTtl },
      ];
    } catch (err) {
      throw unavailable('the rate limiter', err);
    }
  }

  async refund(key: string): Promise<void> {
    try {
      await this.#redis.ghRateRefund(this.#prefix + key);
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
