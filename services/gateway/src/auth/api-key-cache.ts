import type { Role } from '@gatehouse/contracts';

/** How long a verified key is trusted without asking identity again: the bound on a missed revocation event. */
export const API_KEY_CACHE_MS = 60_000;
/** How long an unknown key is remembered as such, so that a flood of made-up keys costs one lookup each per period. */
const UNKNOWN_KEY_MS = 30_000;
const MAX_ENTRIES = 20_000;

/** Who a key acts as, as identity answered. */
export interface KeyHolder {
  keyId: string;
  projectId: string;
  userId: string;
  role: Role;
  /** Epoch ms, or null for a key without expiry. */
  expiresAt: number | null;
}

interface Entry extends KeyHolder {
  cachedUntil: number;
}

/**
 * The gateway's memory of API keys, by the key's hash: the hot-path half of
 * key revocation, as the revocation set is for sessions. A request with a key
 * seen in the last minute costs a hash and a Map read; a revocation event (or
 * the gateway's own revoke, or a change to the key's user) drops the key at
 * once. Answers that were being fetched when a drop happened are not kept
 * (the epoch), so a lookup that raced a revocation cannot bring the key back.
 */
export class ApiKeyCache {
  readonly #byHash = new Map<string, Entry>();
  readonly #unknown = new Map<string, number>();
  /** Revoked key ids, kept while an answer fetched before the revocation could still arrive. */
  readonly #revoked = new Map<string, number>();
  /** Last use per key id (epoch ms), until the next batch takes them. */
  #uses = new Map<string, number>();
  #epoch = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Counts drops: take it before a lookup and hand it to `put`. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The holder of the key with this hash when it works now; `unknown` when it was refused lately; else undefined (ask). */
  get(hash: string): KeyHolder | 'unknown' | undefined {
    const now = this.#now();
    const entry = this.#byHash.get(hash);
    if (entry) {
      if (entry.cachedUntil > now && (entry.expiresAt === null || entry.expiresAt > now)) {
        this.#uses.set(entry.keyId, now);
        return entry;
      }
      this.#byHash.delete(hash);
    }
    const until = this.#unknown.get(hash);
    if (until !== undefined) {
      if (until > now) return 'unknown';
      this.#unknown.delete(hash);
    }
    return undefined;
  }

  /** Keeps what identity answered, unless something was dropped since `epoch` (the answer may be stale). */
  put(hash: string, holder: KeyHolder, epoch: number): void {
    if (epoch !== this.#epoch || this.#revoked.has(holder.keyId)) return;
    this.#bound(this.#byHash);
    this.#byHash.set(hash, { ...holder, cachedUntil: this.#now() + API_KEY_CACHE_MS });
    this.#uses.set(holder.keyId, this.#now());
  }

  /** True for a key revoked lately: whatever a lookup answered, it is refused. */
  isRevoked(keyId: string): boolean {
    return this.#revoked.has(keyId);
  }

  /** Remembers that identity refused the key with this hash. */
  refused(hash: string): void {
    this.#bound(this.#unknown);
    this.#unknown.set(hash, this.#now() + UNKNOWN_KEY_MS);
  }

  /** The keys stop working here now. */
  revoke(keyIds: readonly string[]): void {
    this.#epoch++;
    const until = this.#now() + 2 * API_KEY_CACHE_MS;
    const ids = new Set(keyIds);
    for (const id of ids) this.#revoked.set(id, until);
    for (const [hash, entry] of this.#byHash) if (ids.has(entry.keyId)) this.#byHash.delete(hash);
  }

  /** A user changed (role, ban, deletion, password): their keys, and every refused key, are asked about again. */
  dropUser(userId: string): void {
    this.#epoch++;
    for (const [hash, entry] of this.#byHash) if (entry.userId === userId) this.#byHash.delete(hash);
    // A refused key is not known to be anyone's: one refused for this user's ban may work now.
    this.#unknown.clear();
  }

  /** Events may have been missed (the bus was lost): every key is asked about again. */
  clear(): void {
    this.#epoch++;
    this.#byHash.clear();
    this.#unknown.clear();
  }

  /** The uses since the last call, for identity's `last_used_at`. */
  takeUses(): { key_id: string; at: string }[] {
    const uses = this.#uses;
    this.#uses = new Map();
    return [...uses].map(([key_id, at]) => ({ key_id, at: new Date(at).toISOString() }));
  }

  /** Drops the revocation records that no fetch can race any more. */
  prune(): void {
    const now = this.#now();
    for (const [id, until] of this.#revoked) if (until <= now) this.#revoked.delete(id);
    for (const [hash, until] of this.#unknown) if (until <= now) this.#unknown.delete(hash);
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** Room for one more: the oldest entry goes (a Map iterates in insertion order). */
  #bound(map: Map<string, unknown>): void {
    if (map.size < MAX_ENTRIES) return;
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}
