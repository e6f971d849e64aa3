import type { SigningKeyStore, StoredKey } from '../keys/keys.store.ts';
import {
  isLive,
  type RefreshInput,
  type RefreshOutcome,
  type Revocation,
  type SessionRecord,
  type SessionStore,
} from './sessions.store.ts';

interface RefreshRecord {
  sessionId: string;
  state: 'active' | 'rotated';
  rotatedAt: number;
  /** Active: the idle deadline; rotated: the session's absolute expiry (reuse stays detectable). */
  expiresAt: number;
}

/** Sweep expired entries after this many writes, so an embedded process does not grow forever. */
const SWEEP_EVERY = 1000;

/**
 * The embedded mode's store of sessions and signing keys: the same semantics
 * as the Redis store, kept in the process. Every method runs to completion without awaiting, so each is
 * atomic as a Lua script is. Expiry is lazy, by the `now` the caller passes.
 */
export class MemorySessionStore implements SessionStore, SigningKeyStore {
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #tokens = new Map<string, RefreshRecord>();
  /** The refresh-token hashes of each session (its family), deleted with it. */
  readonly #families = new Map<string, Set<string>>();
  readonly #byUser = new Map<string, Set<string>>();
  readonly #revoked = new Map<string, number>();
  readonly #keys = new Map<string, StoredKey>();
  #writes = 0;

  async createSession(session: SessionRecord, refreshHash: string): Promise<void> {
    this.#sessions.set(session.id, { ...session, amr: [...session.amr] });
    this.#addToken(session.id, refreshHash, session.idle_expires_at);
    const ids = this.#byUser.get(session.user_id) ?? new Set();
    ids.add(session.id);
    this.#byUser.set(session.user_id, ids);
    this.#wrote(session.created_at);
  }

  async getSession(userId: string, id: string, now: number): Promise<SessionRecord | null> {
    const session = this.#sessions.get(id);
    return session && session.user_id === userId && isLive(session, now) ? copy(session) : null;
  }

  async listSessions(userId: string, now: number): Promise<SessionRecord[]> {
    const live: SessionRecord[] = [];
    for (const id of this.#byUser.get(userId) ?? []) {
      const session = this.#sessions.get(id);
      if (session && isLive(session, now)) live.push(copy(session));
    }
    return live.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
  }

  /** One step, as the REFRESH script in sessions.store.redis.lua.ts decides it (see there). */
  async refresh(input: RefreshInput): Promise<RefreshOutcome> {
    const { now } = input;
    const record = this.#tokens.get(input.presentedHash);
    if (!record || record.expiresAt <= now) return { kind: 'invalid' };
    const session = this.#sessions.get(record.sessionId);
    if (!session || !isLive(session, now)) return { kind: 'invalid' };
    if (input.projectId !== undefined && session.project_id !== input.projectId) return { kind: 'invalid' };
    const child = this.#tokens.get(input.childHash);
    const reused = (cause: 'replayed' | 'broken_chain'): RefreshOutcome => {
      this.#revoke(session, input.revokedUntil, now);
      return { kind: 'reused', sessionId: session.id, userId: session.user_id, cause };
    };
    if (record.state === 'rotated') {
      if (now - record.rotatedAt > input.graceMs) return reused('replayed');
      // Within the grace window: leave rotated_at alone, so the window does not slide.
      if (!child || child.sessionId !== session.id || child.expiresAt <= now) return reused('broken_chain');
      if (child.state === 'rotated') return { kind: 'descend', sessionId: session.id, userId: session.user_id };
      // The child is the active token: hand it out again, store nothing new.
      this.#touch(session, input);
      return { kind: 'current', session: copy(session) };
    }
    if (child) return reused('broken_chain');
    Object.assign(record, { state: 'rotated', rotatedAt: now, expiresAt: session.expires_at });
    const tokenExpiresAt = Math.min(now + input.idleMs, session.expires_at);
    this.#addToken(session.id, input.childHash, tokenExpiresAt);
    session.idle_expires_at = tokenExpiresAt;
    this.#touch(session, input);
    this.#wrote(now);
    return { kind: 'rotated', session: copy(session) };
  }

  async revokeSession(id: string, options: { ownerId: string; until: number; now: number }): Promise<string | null> {
    const session = this.#sessions.get(id);
    if (!session || !isLive(session, options.now)) return null;
    if (options.ownerId !== session.user_id) return null;
    this.#revoke(session, options.until, options.now);
    return session.user_id;
  }

  async revokeUserSessions(userId: string, options: { exceptId?: string; until: number; now: number }) {
    const revoked: string[] = [];
    for (const id of [...(this.#byUser.get(userId) ?? [])]) {
      const session = this.#sessions.get(id);
      if (id === options.exceptId || !session || !isLive(session, options.now)) continue;
      this.#revoke(session, options.until, options.now);
      revoked.push(id);
    }
    return revoked;
  }

  async listRevocations(now: number): Promise<Revocation[]> {
    const entries: Revocation[] = [];
    for (const [session_id, until] of this.#revoked) {
      if (until <= now) this.#revoked.delete(session_id);
      else entries.push({ session_id, until });
    }
    return entries;
  }

  /** Nothing here is older than shards: this store lives as long as its process. */
  async legacyShard(): Promise<string | null> {
    return null;
  }

  async ping(): Promise<void> {}

  async listKeys(): Promise<StoredKey[]> {
    return [...this.#keys.values()].map((k) => structuredClone(k));
  }

  async activateKey(key: StoredKey, expectedActiveKid: string | null, now: number, publishUntil: number) {
    const active = [...this.#keys.values()].find((k) => k.retired_at === null);
    if ((active?.kid ?? null) !== expectedActiveKid) return false;
    if (active) Object.assign(active, { retired_at: now, publish_until: publishUntil });
    this.#keys.set(key.kid, { ...structuredClone(key), retired_at: null, publish_until: null });
    return true;
  }

  async deleteKey(kid: string): Promise<void> {
    if (this.#keys.get(kid)?.retired_at !== null) this.#keys.delete(kid);
  }

  async resealKey(kid: string, expectedSealed: string, sealed: string): Promise<boolean> {
    const key = this.#keys.get(kid);
    if (key?.sealed_private !== expectedSealed) return false;
    key.sealed_private = sealed;
    return true;
  }

  #touch(session: SessionRecord, input: RefreshInput): void {
    session.last_used_at = input.now;
    if (input.ip) session.ip = input.ip;
    if (input.userAgent) session.user_agent = input.userAgent;
  }

  #addToken(sessionId: string, hash: string, expiresAt: number): void {
    this.#tokens.set(hash, { sessionId, state: 'active', rotatedAt: 0, expiresAt });
    const family = this.#families.get(sessionId) ?? new Set();
    family.add(hash);
    this.#families.set(sessionId, family);
  }

  /** Deletes the session and its whole token family, and lists it as revoked. */
  #revoke(session: SessionRecord, until: number, now: number): void {
    this.#forget(session);
    this.#revoked.set(session.id, Math.max(until, this.#revoked.get(session.id) ?? 0));
    this.#wrote(now);
  }

  #forget(session: SessionRecord): void {
    for (const hash of this.#families.get(session.id) ?? []) this.#tokens.delete(hash);
    this.#families.delete(session.id);
    this.#sessions.delete(session.id);
    const ids = this.#byUser.get(session.user_id);
    ids?.delete(session.id);
    if (ids?.size === 0) this.#byUser.delete(session.user_id);
  }

  /** What Redis TTLs do in the stack: drop what can no longer matter. */
  #wrote(now: number): void {
    if (++this.#writes % SWEEP_EVERY !== 0) return;
    for (const session of [...this.#sessions.values()]) if (!isLive(session, now)) this.#forget(session);
    for (const [hash, record] of this.#tokens) if (record.expiresAt <= now) this.#tokens.delete(hash);
    for (const [id, until] of this.#revoked) if (until <= now) this.#revoked.delete(id);
  }
}

function copy(session: SessionRecord): SessionRecord {
  return { ...session, amr: [...session.amr] };
}
