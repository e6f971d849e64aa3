import type { RedisClient } from '@gatehouse/kit';
import { unavailable } from '@gatehouse/kit';
import type { Result } from 'ioredis';

/** A counter in a fixed window: how many hits so far, and when the window ends. */
export interface WindowCount {
  count: number;
  /** Milliseconds until the window (and its count) ends. */
  resetInMs: number;
}

/**
 * Counters for rate limits, shared by every gateway replica (Redis) or kept in
 * the process (embedded mode), and the known devices of each account (for the
 * password sign-in's lockout). One contract suite runs against both.
 */
export interface RateLimitStore {
  /** Adds one hit to `key` and returns the window's count including it. */
  hit(key: string, windowMs: number): Promise<WindowCount>;
  /** The window's count without adding a hit (0 when there is none). */
  peek(key: string): Promise<WindowCount>;
  /**
   * A password sign-in's (or step-up's) limits in one atomic step: counts a hit
   * on `hit.key` (the address) and, unless that is over `hit.limit`, claims one
   * attempt on each key of a group, all or none (none when any of them already
   * holds its limit). The group is `device.claims` when the set `device.devices`
   * knows `device.id` (unexpired at `device.now`), else `claims`. Claims are
   * taken before the password is checked, so concurrent guesses cannot pass a
   * limit; a sign-in that does not fail on the password gives them back
   * (`settle`).
   */
  hitAndClaim(request: ClaimRequest): Promise<[WindowCount, Claim]>;
  /**
   * One step after a sign-in: forgets the `reset` keys, gives one claim back on
   * each `refund` key (never below zero), and remembers `remember.id` in its
   * set of known devices until `remember.expiresAt`, keeping the `max` used
   * last (the set itself lives as long as its newest member).
   */
  settle(settlement: Settlement): Promise<void>;
  ping(): Promise<void>;
}

/** The per-address half of `hitAndClaim`. */
export interface ClaimHit {
  key: string;
  windowMs: number;
  /** Over this count the request is refused, and nothing is claimed. */
  limit: number;
}

/** One counter `hitAndClaim` claims an attempt on. */
export interface ClaimAttempt {
  key: string;
  /** The window of the count, started by its first claim. */
  windowMs: number;
  /** The count at which claims are refused. */
  limit: number;
}

export interface ClaimRequest {
  hit: ClaimHit;
  /** Claimed together (all or none) unless the request comes from a known device. */
  claims: ClaimAttempt[];
  /** The device the request names: when `devices` knows `id`, `claims` here are claimed instead. */
  device?: DeviceClaim | undefined;
}

export interface DeviceClaim {
  /** The set of the account's known devices. */
  devices: string;
  id: string;
  /** Epoch ms: a device whose expiry is not after it is not known. */
  now: number;
  claims: ClaimAttempt[];
}

/**
 * What a claim came to: `claimed` false when a counter of the group was already
 * at its limit (or the hit over its own). `count` and `resetInMs` are the first
 * counter's after a claim; after a refusal, the full counter's that ends last
 * (so `resetInMs` is when a retry may pass), or the first counter's when only
 * the hit was over.
 */
export interface Claim extends WindowCount {
  claimed: boolean;
  /** True when the device group was used (the request came from a known device). */
  known: boolean;
}

export interface Settlement {
  reset?: string[];
  refund?: string[];
  remember?: RememberDevice | undefined;
}

export interface RememberDevice {
  devices: string;
  id: string;
  /** Epoch ms. */
  now: number;
  expiresAt: number;
  /** How many devices the set keeps: beyond it, those with the earliest expiry (used longest ago) go. */
  max: number;
}

/** In-process counters for the embedded mode. */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #windows = new Map<string, { count: number; endsAt: number }>();
  /** Per set of known devices: device id -> expiry (epoch ms). */
  readonly #devices = new Map<string, Map<string, number>>();
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

  #held(key: string, now: number): WindowCount {
    const w = this.#windows.get(key);
    return w && w.endsAt > now ? { count: w.count, resetInMs: w.endsAt - now } : { count: 0, resetInMs: 0 };
  }

  async peek(key: string): Promise<WindowCount> {
    return this.#held(key, this.#now());
  }

  async hitAndClaim({ hit, claims, device }: ClaimRequest): Promise<[WindowCount, Claim]> {
    // No await between the reads and the writes: one step, as the Redis script is.
    const perHit = this.#count(hit.key, hit.windowMs);
    const now = this.#now();
    const expiry = device && this.#devices.get(device.devices)?.get(device.id);
    const known = device !== undefined && expiry !== undefined && expiry > device.now;
    const group = known ? device.claims : claims;
    let full: WindowCount | undefined;
    for (const c of group) {
      const held = this.#held(c.key, now);
      if (held.count >= c.limit && (!full || held.resetInMs > full.resetInMs)) full = held;
    }
    if (perHit.count > hit.limit || full) {
      const shown = full ?? (group[0] ? this.#held(group[0].key, now) : { count: 0, resetInMs: 0 });
      return [perHit, { claimed: false, known, ...shown }];
    }
    const counts = group.map((c) => this.#count(c.key, c.windowMs));
    return [perHit, { claimed: true, known, ...(counts[0] ?? { count: 0, resetInMs: 0 }) }];
  }

  async settle({ reset = [], refund = [], remember }: Settlement): Promise<void> {
    for (const key of reset) this.#windows.delete(key);
    for (const key of refund) {
      const w = this.#windows.get(key);
      if (!w) continue;
      if (w.count <= 1) this.#windows.delete(key);
      else w.count--;
    }
    if (remember) {
      const set = this.#devices.get(remember.devices) ?? new Map<string, number>();
      this.#devices.set(remember.devices, set);
      set.delete(remember.id); // re-inserted last: a Map keeps insertion order
      set.set(remember.id, remember.expiresAt);
      for (const [id, expiresAt] of set) if (expiresAt <= remember.now) set.delete(id);
      const byExpiry = [...set].sort((a, b) => a[1] - b[1]);
      for (const [id] of byExpiry.slice(0, Math.max(0, set.size - remember.max))) set.delete(id);
    }
  }

  async ping(): Promise<void> {}

  #sweep(now: number): void {
    for (const [k, w] of this.#windows) if (w.endsAt <= now) this.#windows.delete(k);
    for (const [k, set] of this.#devices) {
      for (const [id, expiresAt] of set) if (expiresAt <= now) set.delete(id);
      if (set.size === 0) this.#devices.delete(k);
    }
  }
}

// INCR, and start the window's expiry with the first hit only (PEXPIRE NX needs
// Redis 7; this form works on every version). One round trip, atomic.
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

// The address's hit (as HIT), then a group of claims, all or none: refused when
// the hit is over its limit or any counter of the group holds its limit (nothing
// added), else each INCR with its window started by its first claim. The group
// is the device's when the device set knows the device (unexpired), else the
// other one.
// KEYS: address, [device set], device claims..., other claims...
// ARGV: address window, address limit, device id ('' for none: no device set key),
// now (ms), number of device claims, number of other claims, then per claim (in
// KEYS order) its window and limit.
// Returns {hits, hitsTtl, claims, claimsTtl, claimed (0/1), known (0/1)}.
const CLAIM = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
local nDevice, nOther = tonumber(ARGV[5]), tonumber(ARGV[6])
local k0, known = 1, 0
if ARGV[3] ~= '' then
  k0 = 2
  local expiry = redis.call('ZSCORE', KEYS[2], ARGV[3])
  if expiry and tonumber(expiry) > tonumber(ARGV[4]) then known = 1 end
end
local lo, hi = nDevice + 1, nDevice + nOther
if known == 1 then lo, hi = 1, nDevice end
local full, fullCount, fullTtl = false, 0, 0
for i = lo, hi do
  local k = KEYS[k0 + i]
  local c = tonumber(redis.call('GET', k) or '0')
  if c >= tonumber(ARGV[6 + 2 * i]) then
    local t = math.max(redis.call('PTTL', k), 0)
    if not full or t > fullTtl then fullCount, fullTtl = c, t end
    full = true
  end
end
if full or n > tonumber(ARGV[2]) then
  if not full and lo <= hi then
    local k = KEYS[k0 + lo]
    fullCount = tonumber(redis.call('GET', k) or '0')
    fullTtl = math.max(redis.call('PTTL', k), 0)
  end
  return {n, ttl, fullCount, fullTtl, 0, known}
end
local first, firstTtl = 0, 0
for i = hi, lo, -1 do
  local k, w = KEYS[k0 + i], ARGV[6 + 2 * i - 1]
  local c = redis.call('INCR', k)
  if c == 1 then redis.call('PEXPIRE', k, w) end
  local t = redis.call('PTTL', k)
  if t < 0 then redis.call('PEXPIRE', k, w); t = tonumber(w) end
  first, firstTtl = c, t
end
return {n, ttl, first, firstTtl, 1, known}`;

// After a sign-in: DEL the reset keys, give one claim back on each refund key
// (DECR, and the key goes at zero: never negative), and remember a device in its
// sorted set (score: its expiry), dropping the expired and, beyond the maximum,
// those that expire first; the set lives as long as its latest expiry.
// KEYS: reset..., refund..., [device set]. ARGV: number of reset keys, number of
// refund keys, device id ('' for none), now, expiry, maximum.
const SETTLE = `
local nReset, nRefund = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, nReset do redis.call('DEL', KEYS[i]) end
for i = nReset + 1, nReset + nRefund do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c <= 1 then redis.call('DEL', KEYS[i]) else redis.call('DECR', KEYS[i]) end
end
if ARGV[3] ~= '' then
  local d = KEYS[nReset + nRefund + 1]
  redis.call('ZADD', d, ARGV[5], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', d, '-inf', ARGV[4])
  local extra = redis.call('ZCARD', d) - tonumber(ARGV[6])
  if extra > 0 then redis.call('ZREMRANGEBYRANK', d, 0, extra - 1) end
  local newest = redis.call('ZRANGE', d, -1, -1, 'WITHSCORES')
  if newest[2] then redis.call('PEXPIREAT', d, newest[2]) end
end
return 1`;

// Registered with defineCommand, so that ioredis sends EVALSHA (the script's
// digest, not its text, on every sign-in) and falls back to EVAL once when the
// server does not know the script yet. Called as (numberOfKeys, ...keys, ...args).
declare module 'ioredis' {
  interface RedisCommander<Context> {
    ghRateHit(...args: (string | number)[]): Result<number[], Context>;
    ghRateClaim(...args: (string | number)[]): Result<number[], Context>;
    ghRateSettle(...args: (string | number)[]): Result<number, Context>;
  }
}

/** Counters in Redis, shared by every gateway replica. Redis errors become `service_unavailable`. */
export class RedisRateLimitStore implements RateLimitStore {
  readonly #redis: RedisClient;
  readonly #prefix: string;

  /**
   * `prefix` starts every key; its hash tag (`{rl}`) puts all of them in one slot of a Redis
   * Cluster, because a sign-in claims counters of several keys (address, account, device) in one
   * script. They are small and short-lived: one node serves them easily.
   */
  constructor(redis: RedisClient, prefix = 'gh:{rl}:') {
    this.#redis = redis;
    this.#prefix = prefix;
    redis.defineCommand('ghRateHit', { lua: HIT });
    redis.defineCommand('ghRateClaim', { lua: CLAIM });
    redis.defineCommand('ghRateSettle', { lua: SETTLE });
  }

  async hit(key: string, windowMs: number): Promise<WindowCount> {
    try {
      const [count, ttl] = (await this.#redis.ghRateHit(1, this.#prefix + key, windowMs)) as [number, number];
      return { count, resetInMs: ttl };
    } catch (err) {
      throw unavailable('the rate limiter', err);
    }
  }

  async hitAndClaim({ hit, claims, device }: ClaimRequest): Promise<[WindowCount, Claim]> {
    const p = this.#prefix;
    const deviceClaims = device ? device.claims : [];
    const keys = [
      p + hit.key,
      ...(device ? [p + device.devices] : []),
      ...[...deviceClaims, ...claims].map((c) => p + c.key),
    ];
    const args = [
      hit.windowMs,
      hit.limit,
      device ? device.id : '',
      device ? device.now : 0,
      deviceClaims.length,
      claims.length,
      ...[...deviceClaims, ...claims].flatMap((c) => [c.windowMs, c.limit]),
    ];
    try {
      const [count, ttl, claimCount, claimTtl, claimed, known] = (await this.#redis.ghRateClaim(
        keys.length,
        ...keys,
        ...args,
      )) as [number, number, number, number, number, number];
      return [
        { count, resetInMs: ttl },
        { claimed: claimed === 1, known: known === 1, count: claimCount, resetInMs: claimTtl },
      ];
    } catch (err) {
      throw unavailable('the rate limiter', err);
    }
  }

  async settle({ reset = [], refund = [], remember }: Settlement): Promise<void> {
    const p = this.#prefix;
    const keys = [...reset, ...refund, ...(remember ? [remember.devices] : [])].map((k) => p + k);
    if (keys.length === 0) return;
    const args = remember
      ? [reset.length, refund.length, remember.id, remember.now, remember.expiresAt, remember.max]
      : [reset.length, refund.length, '', 0, 0, 0];
    try {
      await this.#redis.ghRateSettle(keys.length, ...keys, ...args);
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

  async ping(): Promise<void> {
    try {
      await this.#redis.ping();
    } catch (err) {
      throw unavailable('redis', err);
    }
  }
}
