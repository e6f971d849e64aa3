import { Amr, Role } from '@gatehouse/contracts';
import { type Static, Type } from '@sinclair/typebox';

/**
 * A session as the store keeps it. Times are epoch milliseconds except
 * `auth_time` (epoch seconds, as the access token carries it). A session is
 * live while `now` is before both `expires_at` (absolute lifetime) and
 * `idle_expires_at` (when its newest refresh token dies unused).
 */
export const SessionRecord = Type.Object({
  id: Type.String(),
  user_id: Type.String(),
  project_id: Type.String(),
  role: Role,
  amr: Amr,
  auth_time: Type.Integer(),
  created_at: Type.Integer(),
  last_used_at: Type.Integer(),
  expires_at: Type.Integer(),
  idle_expires_at: Type.Integer(),
  ip: Type.Union([Type.String(), Type.Null()]),
  user_agent: Type.Union([Type.String(), Type.Null()]),
});
export type SessionRecord = Static<typeof SessionRecord>;

/** True while the session can still be used at `now`. */
export const isLive = (s: SessionRecord, now: number): boolean => s.expires_at > now && s.idle_expires_at > now;

/**
 * One step of a refresh: a presented refresh token, by its hash, and the hash
 * of its child in the chain (see sessions.tokens.ts). The store cannot derive
 * a child from a hash, so the service computes both; the store compares them
 * with what it keeps.
 */
export interface RefreshInput {
  /** The shard the token names, or looked up for one from before shards (sessions.tokens.ts `shardOf`). */
  shard: string;
  presentedHash: string;
  /** Hash of the presented token's child: issued when the presented token is active, looked up when it is rotated. */
  childHash: string;
  now: number;
  /** How long after its rotation a token is still accepted (two tabs refreshing at once); measured from `rotated_at`. */
  graceMs: number;
  /** Idle lifetime of a newly issued token; it never outlives the session. */
  idleMs: number;
  ip?: string | undefined;
  userAgent?: string | undefined;
  /** On reuse, the revocation-list entry for the session lasts until then (epoch ms). */
  revokedUntil: number;
  /**
   * The project the request names: a token of a session of another project is
   * `invalid`, and nothing is written (it is not rotated, so its owner's next
   * refresh is no reuse). Absent: any project.
   */
  projectId?: string | undefined;
}

/**
 * What one refresh step came to; each is decided atomically.
 * - `rotated`: the presented token was active. It is now rotated (at `now`)
 *   and its child is the session's active token.
 * - `current`: the presented token was rotated within the grace window and
 *   its child is the active token: answer with the child again. Nothing new
 *   is stored (the session records the use).
 * - `descend`: the presented token was rotated within the grace window and so
 *   was its child (a tab already moved on): the service steps again with the
 *   child as the presented token. Nothing is written.
 * - `reused`: the store has already revoked the whole session, because a
 *   rotated token came after its grace window (`replayed`), or because the
 *   chain cannot be followed (`broken_chain`: the child of a rotated token is
 *   missing or not of this session, or the child of an active one exists).
 * - `invalid`: unknown or expired token, a session that is no longer live, or
 *   one of another project than `projectId`.
 * A session therefore never has two active tokens.
 */
export type RefreshOutcome =
  | { kind: 'rotated'; session: SessionRecord }
  | { kind: 'current'; session: SessionRecord }
  | { kind: 'descend'; sessionId: string; userId: string }
  | { kind: 'reused'; sessionId: string; userId: string; cause: 'replayed' | 'broken_chain' }
  | { kind: 'invalid' };

/** A revocation-list entry: no access token carrying `session_id` is valid before `until` (epoch ms). */
export interface Revocation {
  session_id: string;
  until: number;
}

/**
 * What the session service keeps of sessions: the sessions, refresh-token
 * records (by hash only), the per-user index and the revocation list (the
 * signing keys are a SigningKeyStore's). Redis in the stack, memory in the
 * embedded mode; one contract suite runs against both. Every time-dependent method takes `now` from the service's
 * clock, so expiry is decided by one clock; TTLs in Redis only collect garbage.
 * Revoking deletes the session and every refresh token of it, and records the
 * id in the revocation list. Implementations throw `service_unavailable` when
 * the backend does not answer.
 */
export interface SessionStore {
  /** Stores a new session and its first (active) refresh token, which dies unused at `session.idle_expires_at`. */
  createSession(session: SessionRecord, refreshHash: string): Promise<void>;
  /** The user's live session of that id, or null. */
  getSession(userId: string, id: string, now: number): Promise<SessionRecord | null>;
  /** The user's live sessions, newest first. */
  listSessions(userId: string, now: number): Promise<SessionRecord[]>;
  /**
   * One step of rotation with reuse detection, decided atomically (see
   * RefreshOutcome). The service walks a chain with repeated steps.
   */
  refresh(input: RefreshInput): Promise<RefreshOutcome>;
  /**
   * Revokes one session, if `ownerId` owns it (sessions are stored by their
   * user). Returns the owner's id, or null when there is no such session of that owner.
   */
  revokeSession(id: string, options: { ownerId: string; until: number; now: number }): Promise<string | null>;
  /** Revokes every session of the user except `exceptId`; returns the revoked ids. */
  revokeUserSessions(userId: string, options: { exceptId?: string; until: number; now: number }): Promise<string[]>;
  /** The unexpired revocation-list entries; expired ones are pruned. */
  listRevocations(now: number): Promise<Revocation[]>;
  /**
   * The shard of a refresh token issued before shards (its record moved by the
   * Redis store's migration), or null when it has none (unknown: invalid).
   */
  legacyShard(tokenHash: string): Promise<string | null>;
  /** Resolves when the backend answers. */
  ping(): Promise<void>;
}
