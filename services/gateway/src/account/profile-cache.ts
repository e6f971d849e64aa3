import type { UserRecord } from '@gatehouse/contracts';

/** What the cache may hold at most, in bytes of JSON (a profile's metadata may reach 16 KiB). */
export const PROFILE_CACHE_MAX_BYTES = 16 * 1024 * 1024;
/** How long a drop is remembered: longer than any bus request a fill waits on may take. */
const DROP_MEMORY_MS = 60_000;
/** Drops remembered at most; a flood beyond it empties the cache instead. */
const MAX_DROPS = 100_000;

interface Entry {
  projectId: string;
  /** The user as identity answered it. */
  user: UserRecord;
  /** Its size as the bound counts it: its JSON, two bytes a character. */
  bytes: number;
  until: number;
}

export interface ProfileCacheOptions {
  /** A profile is asked for again after this long at the latest (the bound on a missed event); 0 turns the cache off. */
  ttlMs: number;
  maxBytes?: number;
  now?: () => number;
}

/**
 * Users as identity answered them, by id: `GET /auth/me`'s answer, and what a refresh checks
 * (the account still exists and is not banned) and answers, kept exact by the user events (profile, email verified,
 * role, ban, deletion, password, a factor turned on or off) and the session events every
 * gateway receives: a user's entry is dropped on any of them, and on a session opened here. A
 * fill that was being fetched when its user was dropped is not kept (the drop's sequence number
 * is newer than the fill's ticket), so an answer that raced a change cannot bring the old
 * profile back. Bounded by the bytes it holds, the oldest entry first out; a short TTL is the
 * safety net for an event lost on the way.
 */
export class ProfileCache {
  readonly #entries = new Map<string, Entry>();
  /** User id -> the sequence number of its latest drop. */
  readonly #drops = new Map<string, { seq: number; at: number }>();
  #seq = 0;
  /** The sequence number of the latest `clear`: fills ticketed before it are not kept. */
  #clearedAt = 0;
  #bytes = 0;
  readonly #ttlMs: number;
  readonly #maxBytes: number;
  readonly #now: () => number;

  constructor(options: ProfileCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#maxBytes = options.maxBytes ?? PROFILE_CACHE_MAX_BYTES;
    this.#now = options.now ?? Date.now;
  }

  /** The user, when the entry is fresh; else undefined (ask identity). */
  get(projectId: string, userId: string): UserRecord | undefined {
    const entry = this.#entries.get(userId);
    if (!entry) return undefined;
    if (entry.until <= this.#now() || entry.projectId !== projectId) {
      this.#delete(userId, entry);
      return undefined;
    }
    return entry.user;
  }

  /** Take it before asking identity, and hand it to `put` with the answer. */
  ticket(): number {
    return this.#seq;
  }

  /** Keeps identity's answer, unless the user was dropped (or everything cleared) since `ticket`. */
  put(projectId: string, userId: string, user: UserRecord, ticket: number): void {
    if (this.#ttlMs <= 0 || ticket < this.#clearedAt) return;
    const dropped = this.#drops.get(userId);
    if (dropped && dropped.seq > ticket) return;
    const size = JSON.stringify(user).length * 2;
    if (size > this.#maxBytes / 16) return;
    const old = this.#entries.get(userId);
    if (old) this.#delete(userId, old);
    while (this.#bytes + size > this.#maxBytes) {
      const oldest = this.#entries.entries().next();
      if (oldest.done) break;
      this.#delete(oldest.value[0], oldest.value[1]);
    }
    this.#entries.set(userId, { projectId, user, bytes: size, until: this.#now() + this.#ttlMs });
    this.#bytes += size;
  }

  /** The user changed, or their sessions did: asked for again at the next request. */
  dropUser(userId: string): void {
    this.#seq++;
    const entry = this.#entries.get(userId);
    if (entry) this.#delete(userId, entry);
    if (this.#drops.size >= MAX_DROPS) {
      // Too many to remember one by one: forget every answer, and every fill under way.
      this.clear();
      return;
    }
    this.#drops.delete(userId);
    this.#drops.set(userId, { seq: this.#seq, at: this.#now() });
  }

  /** Events may have been missed (the bus was lost): every profile is asked for again. */
  clear(): void {
    this.#seq++;
    this.#clearedAt = this.#seq;
    this.#entries.clear();
    this.#drops.clear();
    this.#bytes = 0;
  }

  /** Forgets the drops no fill can race any more, and the expired entries. */
  prune(): void {
    const now = this.#now();
    // Both maps are in insertion order, so the oldest come first.
    for (const [userId, drop] of this.#drops) {
      if (now - drop.at < DROP_MEMORY_MS) break;
      this.#drops.delete(userId);
      // A fill ticketed before this drop and still waiting has outlived any bus timeout.
      this.#clearedAt = Math.max(this.#clearedAt, drop.seq);
    }
    for (const [userId, entry] of this.#entries) if (entry.until <= now) this.#delete(userId, entry);
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  #delete(userId: string, entry: Entry): void {
    this.#entries.delete(userId);
    this.#bytes -= entry.bytes;
  }
}
