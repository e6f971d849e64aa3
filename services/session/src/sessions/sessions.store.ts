import { Amr, Role } from '@gatehouse/contracts';
import { type Static, Type } from '@sinclair/typebox';
import type { SigningKeyStore } from '../keys/keys.store.ts';

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

/** One presentation of a refresh token (by its hash) and what to do if it is good. */
export interface RefreshInput {
  presentedHash: string;
  /** Hash of the token to issue when the presented one is accepted. */
  nextHash: string;
  now: number;
  /** How long after its rotation a token is still accepted (two tabs refreshing at once). */
  graceMs: number;
  /** Idle lifetime of the new token; it never outlives the session. */
  idleMs: number;
  ip?: string | undefined;
  userAgent?: string | undefined;
  /** On reuse, the revocation-list entry for the session lasts until then (epoch ms). */
  revokedUntil: number;
}

/**
 * What a refresh came to. `reused`: a rotated token was presented after the
 * grace window, so the store has already revoked the whole session.
 */
export type RefreshOutcome =
  | { kind: 'rotated'; session: SessionRecord }
  | { kind: 'reused'; sessionId: string; userId: string }
  | { kind: 'invalid' };

/** A revocation-list entry: no access token carrying `session_id` is valid before `until` (epoch ms). */
export interface Revocation {
  session_id: string;
  until: number;
}

/**
 * Everything the session service keeps: sessions, refresh-token records (by
 * hash only), the per-user index, the revocation list and the signing keys.
 * Redis in the stack, memory in the embedded mode; one contract suite runs
 * against both. Every time-dependent method takes `now` from the service's
 * clock, so expiry is decided by one clock; TTLs in Redis only collect garbage.
 * Revoking deletes the session and every refresh token of it, and records the
 * id in the revocation list. Implementations throw `service_unavailable` when
 * the backend does not answer.
 */
export interface SessionStore extends SigningKeyStore {
  /** Stores a new session and its first (active) refresh token, which dies unused at `session.idle_expires_at`. */
  createSession(session: SessionRecord, refreshHash: string): Promise<void>;
  /** The live session, or null. */
  getSession(id: string, now: number): Promise<SessionRecord | null>;
  /** The user's live sessions, newest first. */
  listSessions(userId: string, now: number): Promise<SessionRecord[]>;
  /** Rotation with reuse detection, decided atomically. */
  refresh(input: RefreshInput): Promise<RefreshOutcome>;
  /**
   * Revokes one session; with `ownerId`, only if that user owns it. Returns the
   * owner's id, or null when there is no such session (of that owner).
   */
  revokeSession(id: string, options: { ownerId?: string; until: number; now: number }): Promise<string | null>;
  /** Revokes every session of the user except `exceptId`; returns the revoked ids. */
  revokeUserSessions(userId: string, options: { exceptId?: string; until: number; now: number }): Promise<string[]>;
  /** The unexpired revocation-list entries; expired ones are pruned. */
  listRevocations(now: number): Promise<Revocation[]>;
  /** Resolves when the backend answers. */
  ping(): Promise<void>;
}
