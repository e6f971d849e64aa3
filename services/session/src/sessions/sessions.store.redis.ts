import { type RedisClient, unavailable, validate } from '@gatehouse/kit';
import type { Static, TSchema } from '@sinclair/typebox';
import { Cluster, type Result } from 'ioredis';
import { type SigningKeyStore, StoredKey } from '../keys/keys.store.ts';
import {
  ACTIVATE_KEY,
  COPY_LEGACY_KEYS,
  CREATE,
  LIST_REVOKED,
  MOVE_LEGACY_SESSION,
  REFRESH,
  RESEAL_KEY,
  REVOKE_ONE,
  REVOKE_USER,
} from './sessions.store.redis.lua.ts';
import {
  isLive,
  type RefreshInput,
  type RefreshOutcome,
  type Revocation,
  SessionRecord,
  type SessionStore,
} from './sessions.store.ts';
import { shardOf } from './sessions.tokens.ts';

type Arg = string | number;

// The scripts, registered with defineCommand: ioredis sends EVALSHA and falls
// back to EVAL once when the server does not know the script yet.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    ghSessionCreate(...args: Arg[]): Result<number, Context>;
    ghSessionRefresh(...args: Arg[]): Result<[string, ...unknown[]], Context>;
    ghSessionRevokeOne(...args: Arg[]): Result<string | null, Context>;
    ghSessionRevokeUser(...args: Arg[]): Result<string[], Context>;
    ghKeyActivate(...args: Arg[]): Result<number, Context>;
    ghKeyReseal(...args: Arg[]): Result<number, Context>;
    ghSessionListRevoked(...args: Arg[]): Result<string[], Context>;
    ghSessionMoveLegacy(...args: Arg[]): Result<number, Context>;
    ghKeyCopyLegacy(...args: Arg[]): Result<number, Context>;
  }
}

/** Every shard, `00` to `ff` (sessions.tokens.ts `shardOf`). */
const SHARDS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * The stack's store of sessions and signing keys, in Redis (see
 * sessions.store.redis.lua.ts for the key layout): one client, one key prefix.
 * It runs on one Redis (standalone, or Sentinel's primary) and on a Redis
 * Cluster: each call's keys are in one hash slot. Every Redis failure (down, timeout) becomes AppError
 * `service_unavailable`; the client is expected to fail fast rather than
 * queue (maxRetriesPerRequest 1, no offline queue), so a call never hangs.
 */
export class RedisSessionStore implements SessionStore, SigningKeyStore {
  readonly #redis: RedisClient;
  /** The prefix as given: the legacy layout's keys, and the pointers it left (`legacy:<hash>`). */
  readonly #prefix: string;
  /** The signing keys' prefix, with their hash tag (`gh:{keys}:`: one slot, for ACTIVATE_KEY). */
  readonly #k: string;

  /** `prefix` namespaces every key, so tests (or tenants of one Redis) stay apart. */
  constructor(redis: RedisClient, options: { prefix?: string } = {}) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'gh:';
    this.#k = `${this.#prefix}{keys}:`;
    redis.defineCommand('ghSessionCreate', { numberOfKeys: 1, lua: CREATE });
    redis.defineCommand('ghSessionRefresh', { numberOfKeys: 1, lua: REFRESH });
    redis.defineCommand('ghSessionRevokeOne', { numberOfKeys: 1, lua: REVOKE_ONE });
    redis.defineCommand('ghSessionRevokeUser', { numberOfKeys: 1, lua: REVOKE_USER });
    redis.defineCommand('ghSessionListRevoked', { numberOfKeys: 1, lua: LIST_REVOKED });
    redis.defineCommand('ghSessionMoveLegacy', { numberOfKeys: 0, lua: MOVE_LEGACY_SESSION });
    redis.defineCommand('ghKeyActivate', { numberOfKeys: 4, lua: ACTIVATE_KEY });
    redis.defineCommand('ghKeyReseal', { numberOfKeys: 1, lua: RESEAL_KEY });
    redis.defineCommand('ghKeyCopyLegacy', { numberOfKeys: 0, lua: COPY_LEGACY_KEYS });
  }

  /** A shard's prefix (`gh:{a7}`) and the key that routes its scripts to its slot. */
  #shard(shard: string): [prefix: string, anchor: string] {
    const p = `${this.#prefix}{${shard}}`;
    return [p, `${p}revoked`];
  }

  #ofUser(userId: string): [prefix: string, anchor: string] {
    return this.#shard(shardOf(userId));
  }

  /**
   * Moves what the layout before shards and hash tags stored (one Redis primary, an earlier
   * release's) to where this one reads it: the signing keys (copied once), then every session with
   * its tokens, each moved atomically (sessions.store.redis.lua.ts MOVE_LEGACY_SESSION), so a replica
   * serving meanwhile and another one migrating at once are both safe. On a Redis Cluster there is
   * nothing older (the old layout never ran there). Returns the sessions moved.
   */
  async migrateLegacyLayout(now: number): Promise<number> {
    if (this.#redis instanceof Cluster) return 0;
    const redis = this.#redis;
    const P = this.#prefix;
    await this.#run(() => redis.ghKeyCopyLegacy(P, this.#k));
    const pattern = `${P.replace(/[*?[\]\\]/g, '\\$&')}s:*`;
    let moved = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.#run(() => redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500));
      cursor = next;
      for (const key of keys) {
        const sid = key.slice(P.length + 2);
        const uid = await this.#run(() => redis.hget(key, 'user_id'));
        if (uid === null) continue;
        const shard = shardOf(uid);
        const [p] = this.#shard(shard);
        moved += await this.#run(() => redis.ghSessionMoveLegacy(P, p, shard, sid, uid, now));
      }
    } while (cursor !== '0');
    return moved;
  }

  async legacyShard(tokenHash: string): Promise<string | null> {
    return this.#run(() => this.#redis.get(`${this.#prefix}legacy:${tokenHash}`));
  }

  async createSession(s: SessionRecord, refreshHash: string): Promise<void> {
    const fields: Arg[] = ['user_id', s.user_id, 'project_id', s.project_id, 'role', s.role];
    fields.push('amr', JSON.stringify(s.amr), 'auth_time', s.auth_time, 'created_at', s.created_at);
    fields.push('last_used_at', s.last_used_at, 'expires_at', s.expires_at, 'idle_expires_at', s.idle_expires_at);
    // Absent fields read back as null.
    if (s.ip !== null) fields.push('ip', s.ip);
    if (s.user_agent !== null) fields.push('user_agent', s.user_agent);
    const [p, anchor] = this.#ofUser(s.user_id);
    const args = [anchor, p, s.id, s.user_id, refreshHash, s.created_at, s.expires_at, s.idle_expires_at];
    await this.#run(() => this.#redis.ghSessionCreate(...args, ...fields));
  }

  async getSession(userId: string, id: string, now: number): Promise<SessionRecord | null> {
    const [p] = this.#ofUser(userId);
    const fields = await this.#run(() => this.#redis.hgetall(`${p}s:${id}`));
    const session = toSession(id, fields);
    return session && session.user_id === userId && isLive(session, now) ? session : null;
  }

  async listSessions(userId: string, now: number): Promise<SessionRecord[]> {
    const [p] = this.#ofUser(userId);
    const index = `${p}u:${userId}`;
    const ids = await this.#run(() => this.#redis.smembers(index));
    if (ids.length === 0) return [];
    // One slot: a pipeline (on a Cluster, pipelines must not span nodes).
    const replies = await this.#run(() => {
      const pipeline = this.#redis.pipeline();
      for (const id of ids) pipeline.hgetall(`${p}s:${id}`);
      return pipeline.exec();
    });
    const live: SessionRecord[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const [err, fields] = replies?.[i] ?? [new Error('no reply')];
      if (err) throw unavailable('the session store', err);
      const session = toSession(id, fields as Record<string, string>);
      if (!session) gone.push(id);
      else if (isLive(session, now)) live.push(session);
    });
    // Ids whose session Redis has expired: drop them from the index as we pass.
    if (gone.length) await this.#run(() => this.#redis.srem(index, ...gone));
    return live.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
  }

  async refresh(i: RefreshInput): Promise<RefreshOutcome> {
    const [p, anchor] = this.#shard(i.shard);
    const args = [anchor, p, i.presentedHash, i.childHash, i.now, i.graceMs, i.idleMs];
    const reply = await this.#run(() =>
      this.#redis.ghSessionRefresh(...args, i.ip ?? '', i.userAgent ?? '', i.revokedUntil, i.projectId ?? ''),
    );
    const [kind, a, b, c] = reply;
    if (kind === 'reused') {
      const cause = c === 'broken_chain' ? 'broken_chain' : 'replayed';
      return { kind, sessionId: String(a), userId: String(b), cause };
    }
    if (kind === 'descend') return { kind, sessionId: String(a), userId: String(b) };
    if (kind !== 'rotated' && kind !== 'current') return { kind: 'invalid' };
    const flat = b as string[];
    const fields: Record<string, string> = {};
    for (let j = 0; j + 1 < flat.length; j += 2) fields[flat[j] as string] = flat[j + 1] as string;
    const session = toSession(String(a), fields);
    if (!session) throw new Error('refresh script returned no session');
    return { kind, session };
  }

  async revokeSession(id: string, o: { ownerId: string; until: number; now: number }): Promise<string | null> {
    const [p, anchor] = this.#ofUser(o.ownerId);
    return this.#run(() => this.#redis.ghSessionRevokeOne(anchor, p, id, o.ownerId, o.until, o.now));
  }

  async revokeUserSessions(userId: string, o: { exceptId?: string; until: number; now: number }) {
    const [p, anchor] = this.#ofUser(userId);
    return this.#run(() => this.#redis.ghSessionRevokeUser(anchor, p, userId, o.exceptId ?? '', o.until, o.now));
  }

  /** Every shard's list (a script each, sent at once), and the legacy layout's while entries remain there. */
  async listRevocations(now: number): Promise<Revocation[]> {
    const anchors = [...SHARDS.map((shard) => this.#shard(shard)[1]), `${this.#prefix}revoked`];
    const replies = await this.#run(() =>
      Promise.all(anchors.map((anchor) => this.#redis.ghSessionListRevoked(anchor, now))),
    );
    const until = new Map<string, number>();
    for (const flat of replies) {
      for (let j = 0; j + 1 < flat.length; j += 2) {
        const id = flat[j] as string;
        until.set(id, Math.max(until.get(id) ?? 0, Number(flat[j + 1])));
      }
    }
    return [...until].map(([session_id, until]) => ({ session_id, until }));
  }

  async ping(): Promise<void> {
    await this.#run(() => this.#redis.ping());
  }

  async listKeys(): Promise<StoredKey[]> {
    const [keys, retired, until] = await this.#run(() =>
      Promise.all([
        this.#redis.hgetall(`${this.#k}keys`),
        this.#redis.hgetall(`${this.#k}keys:retired`),
        this.#redis.hgetall(`${this.#k}keys:publish_until`),
      ]),
    );
    return Object.entries(keys).map(([kid, json]) => {
      const [retiredAt, publishUntil] = [retired[kid], until[kid]];
      const key = {
        ...(parseJson(json) as object),
        retired_at: retiredAt === undefined ? null : Number(retiredAt),
        // Absent for a key retired by an earlier release (or not retired).
        publish_until: publishUntil === undefined || retiredAt === undefined ? null : Number(publishUntil),
      };
      return decode(StoredKey, key, `signing key ${kid}`);
    });
  }

  async activateKey(key: StoredKey, expectedActiveKid: string | null, now: number, publishUntil: number) {
    const { retired_at: _, publish_until: __, ...stored } = key;
    const p = this.#k;
    const keys = [`${p}keys`, `${p}keys:retired`, `${p}keys:active`, `${p}keys:publish_until`];
    const args = [expectedActiveKid ?? '', key.kid, JSON.stringify(stored), now, publishUntil];
    return (await this.#run(() => this.#redis.ghKeyActivate(...keys, ...args))) === 1;
  }

  async deleteKey(kid: string): Promise<void> {
    const p = this.#k;
    const active = await this.#run(() => this.#redis.get(`${p}keys:active`));
    if (active === kid) return;
    await this.#run(() =>
      this.#redis
        .multi()
        .hdel(`${p}keys`, kid)
        .hdel(`${p}keys:retired`, kid)
        .hdel(`${p}keys:publish_until`, kid)
        .exec(),
    );
  }

  async resealKey(kid: string, expectedSealed: string, sealed: string): Promise<boolean> {
    const hash = `${this.#k}keys`;
    const json = await this.#run(() => this.#redis.hget(hash, kid));
    const stored = json === null ? undefined : parseJson(json);
    if (typeof stored !== 'object' || stored === null) return false;
    if ((stored as { sealed_private?: unknown }).sealed_private !== expectedSealed) return false;
    const next = JSON.stringify({ ...stored, sealed_private: sealed });
    // Compare-and-set on the whole JSON: if anything changed it meanwhile, that change stands.
    return (await this.#run(() => this.#redis.ghKeyReseal(hash, kid, json as string, next))) === 1;
  }

  async #run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw unavailable('the session store', err);
    }
  }
}

/** A session from its Redis hash, validated; null when the hash is empty (no such key). */
function toSession(id: string, f: Record<string, string>): SessionRecord | null {
  if (Object.keys(f).length === 0) return null;
  const record = {
    id,
    user_id: f.user_id,
    project_id: f.project_id,
    role: f.role,
    amr: parseJson(f.amr),
    auth_time: Number(f.auth_time),
    created_at: Number(f.created_at),
    last_used_at: Number(f.last_used_at),
    expires_at: Number(f.expires_at),
    idle_expires_at: Number(f.idle_expires_at),
    ip: f.ip ?? null,
    user_agent: f.user_agent ?? null,
  };
  return decode(SessionRecord, record, `session ${id}`);
}

/** JSON.parse whose failure is left to `decode` (a SyntaxError would travel as bad input). */
function parseJson(text: string | undefined): unknown {
  try {
    return JSON.parse(text ?? 'null');
  } catch {
    return undefined;
  }
}

/** Validates what Redis handed back. A bad record is corruption (a bug), not bad input: never `validation_failed`. */
function decode<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  try {
    return validate(schema, value, what);
  } catch (cause) {
    throw new Error(`corrupt ${what} in the session store`, { cause });
  }
}
