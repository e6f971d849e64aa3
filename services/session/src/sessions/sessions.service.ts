import { randomBytes } from 'node:crypto';
import type { AccessClaims, EventOf, RequestOf, ResponseOf, SessionInfo } from '@gatehouse/contracts';
import { AppError, type AuditSink, auditEvent, type Config, type Logger, newId } from '@gatehouse/kit';
import type { Revocation, SessionRecord, SessionStore } from './sessions.store.ts';
import { childToken, firstToken, hashToken, shardOf, tokenShard } from './sessions.tokens.ts';

type Lifetimes = Pick<
  Config,
  'publicUrl' | 'accessTokenTtl' | 'refreshTokenTtl' | 'sessionMaxAge' | 'refreshReuseInterval'
>;
type RevokedEvent = Omit<EventOf<'events.session.revoked'>, 'v'>;

export interface SessionServiceDeps {
  store: SessionStore;
  signer: { sign(claims: AccessClaims): Promise<string> };
  config: Lifetimes;
  /** The 32-byte refresh-chain key (`refreshChainKey(SECRET_KEY)`): a rotated token's successor is HMAC(key, token). */
  chainKey: Buffer;
  /** Called once a revocation is stored and before the caller is answered: the app publishes the event. */
  onRevoked: (event: RevokedEvent) => Promise<void>;
  /** Where a refresh token's reuse is recorded (the audit log); `record` returns at once. */
  audit: AuditSink;
  log: Logger;
  now: () => number;
  random?: (bytes: number) => Buffer;
  newId?: () => string;
}

/** Verifiers may accept a token up to this long past `exp`; a revocation entry outlives that too. */
const SKEW_MS = 60_000;

/**
 * A rotated token presented within the grace window is answered with the
 * chain's active token, found at most this many rotations below it; a chain
 * that rotated more often than that within one window is not two tabs.
 */
export const MAX_CHAIN_WALK = 8;

/**
 * The rules of sessions: opening one, refresh-token rotation with reuse
 * detection, revocation, listing. Clock and randomness are injected.
 */
export class SessionService {
  readonly #d: SessionServiceDeps;
  readonly #random: (bytes: number) => Buffer;
  readonly #newId: () => string;

  constructor(deps: SessionServiceDeps) {
    this.#d = deps;
    this.#random = deps.random ?? randomBytes;
    this.#newId = deps.newId ?? newId;
  }

  /** Opens a session after a sign-in; returns its first access and refresh tokens. */
  async create(input: RequestOf<'session.session.create'>): Promise<ResponseOf<'session.session.create'>> {
    const { config, now } = this.#d;
    const at = now();
    const { accessTtl, refreshTtl } = this.#lifetimes(input);
    const expiresAt = at + config.sessionMaxAge * 1000;
    const session: SessionRecord = {
      id: this.#newId(),
      user_id: input.user_id,
      project_id: input.project_id,
      role: input.role,
      amr: input.amr,
      auth_time: Math.floor(at / 1000),
      created_at: at,
      last_used_at: at,
      expires_at: expiresAt,
      idle_expires_at: Math.min(at + refreshTtl * 1000, expiresAt),
      ip: input.ip ?? null,
      user_agent: input.user_agent ?? null,
    };
    const refreshToken = this.#newRefreshToken(session.user_id);
    await this.#d.store.createSession(session, hashToken(refreshToken));
    return this.#tokens(session, refreshToken, at, accessTtl);
  }

  /**
   * Exchanges a refresh token for new tokens (rotation). The new refresh token
   * is the presented one's child in the chain. A token rotated less than the
   * grace window ago (two tabs refreshing at once) is answered with the
   * chain's current token instead, found by walking down from it, so a session
   * never has two live chains. Throws `invalid_grant` for an unknown, expired
   * or revoked token or session; a rotated token presented after the grace
   * window, or one whose chain cannot be followed (see RefreshOutcome, and
   * MAX_CHAIN_WALK), also revokes its whole session first.
   */
  async refresh(input: RequestOf<'session.session.refresh'>): Promise<ResponseOf<'session.session.refresh'>> {
    const { config, store, now } = this.#d;
    const at = now();
    const { accessTtl, refreshTtl } = this.#lifetimes(input);
    let token = input.refresh_token;
    // A token names its shard; one from before shards has its shard looked up (the store moved its record).
    const shard = tokenShard(token) ?? (await store.legacyShard(hashToken(token)));
    if (shard === null) throw invalidGrant();
    let sessionId = '';
    let userId = '';
    for (let step = 0; step < MAX_CHAIN_WALK; step++) {
      const child = childToken(this.#d.chainKey, token, shard);
      const outcome = await store.refresh({
        shard,
        presentedHash: hashToken(token),
        childHash: hashToken(child),
        now: at,
        graceMs: config.refreshReuseInterval * 1000,
        idleMs: refreshTtl * 1000,
        ip: input.ip,
        userAgent: input.user_agent,
        revokedUntil: this.#revokedUntil(at),
        projectId: input.project_id,
      });
      if (outcome.kind === 'rotated' || outcome.kind === 'current') {
        const { session } = outcome;
        const tokens = await this.#tokens(session, child, at, accessTtl);
        return { ...tokens, user_id: session.user_id, project_id: session.project_id };
      }
      if (outcome.kind === 'invalid') throw invalidGrant();
      if (outcome.kind === 'reused') {
        // Someone replayed a retired token: either the client or a thief holds a
        // copy, and we cannot tell which, so the whole session goes (RFC 9700 4.14.2).
        // A chain we cannot follow is treated the same: failing open could fork it.
        await this.#reuse(input, outcome.userId, outcome.sessionId, outcome.cause, at);
        throw invalidGrant();
      }
      // descend: that child was rotated too, within the window; its child is next.
      token = child;
      sessionId = outcome.sessionId;
      userId = outcome.userId;
    }
    // Rotated more than MAX_CHAIN_WALK times within one window: not two tabs. Fail closed.
    const ownerId = await store.revokeSession(sessionId, { ownerId: userId, until: this.#revokedUntil(at), now: at });
    if (ownerId !== null) await this.#reuse(input, ownerId, sessionId, 'walk_bound', at);
    throw invalidGrant();
  }

  /**
   * Revokes one session of `user_id`. One that is not that user's (or does not
   * exist) is `not_found`, so nobody learns about other users' ids.
   */
  async revoke(input: RequestOf<'session.session.revoke'>): Promise<void> {
    const at = this.#d.now();
    const until = this.#revokedUntil(at);
    const ownerId = await this.#d.store.revokeSession(input.session_id, { ownerId: input.user_id, until, now: at });
    if (ownerId === null) throw new AppError('not_found', 'no such session');
    await this.#revoked(ownerId, [input.session_id], at, input.reason);
  }

  /** Revokes every session of a user but `except_session_id`; returns the revoked ids. */
  async revokeUser(input: RequestOf<'session.user.revoke'>): Promise<string[]> {
    const at = this.#d.now();
    const ids = await this.#d.store.revokeUserSessions(input.user_id, {
      exceptId: input.except_session_id,
      until: this.#revokedUntil(at),
      now: at,
    });
    if (ids.length) await this.#revoked(input.user_id, ids, at, input.reason, input.except_session_id === undefined);
    return ids;
  }

  /** The user's live sessions, newest first. */
  async list(userId: string): Promise<SessionInfo[]> {
    const sessions = await this.#d.store.listSessions(userId, this.#d.now());
    return sessions.map((s) => ({
      id: s.id,
      user_id: s.user_id,
      created_at: new Date(s.created_at).toISOString(),
      last_used_at: new Date(s.last_used_at).toISOString(),
      expires_at: new Date(s.expires_at).toISOString(),
      ip: s.ip,
      user_agent: s.user_agent,
      amr: s.amr,
    }));
  }

  /** The unexpired revocation-list entries (gateways load them at start). */
  async revocations(): Promise<Revocation[]> {
    return this.#d.store.listRevocations(this.#d.now());
  }

  /** Until then a revoked id must stay listed: the longest-lived access token carrying it, plus skew. */
  #revokedUntil(at: number): number {
    return at + this.#d.config.accessTokenTtl * 1000 + SKEW_MS;
  }

  async #reuse(
    input: RequestOf<'session.session.refresh'>,
    userId: string,
    sessionId: string,
    cause: 'replayed' | 'broken_chain' | 'walk_bound',
    at: number,
  ): Promise<void> {
    this.#d.log.warn({ session_id: sessionId, user_id: userId, cause }, 'refresh token reuse: session revoked');
    await this.#revoked(userId, [sessionId], at, 'refresh_token_reuse');
    // The store refuses a token of another project than the one named, so the session is of
    // `project_id`. The gateway always names it; a caller that does not gets no audit event.
    if (input.project_id === undefined) {
      this.#d.log.warn({ session_id: sessionId }, 'refresh token reuse not audited: the request named no project');
      return;
    }
    this.#d.audit.record(
      auditEvent({
        type: 'refresh_token.reused',
        project_id: input.project_id,
        user_id: userId,
        ip: input.ip ?? null,
        user_agent: input.user_agent ?? null,
        at: new Date(at),
        data: { session_id: sessionId, cause },
      }),
    );
  }

  async #revoked(userId: string, sessionIds: string[], at: number, reason: string, all = false): Promise<void> {
    const until = this.#revokedUntil(at);
    await this.#d.onRevoked({ user_id: userId, session_ids: sessionIds, until, reason, ...(all ? { all } : {}) });
  }

  /** A session's first refresh token; every later one is derived (sessions.tokens.ts). */
  #newRefreshToken(userId: string): string {
    // 256 bits: guessing is hopeless, so a plain SHA-256 (no salt, no slow hash) is enough to store it.
    return firstToken(shardOf(userId), this.#random(32));
  }

  /**
   * A project's own lifetimes, never above the instance's: the revocation list
   * keeps an id for ACCESS_TOKEN_TTL, so no access token may live longer.
   */
  #lifetimes(input: { access_ttl?: number | undefined; refresh_ttl?: number | undefined }) {
    const { accessTokenTtl, refreshTokenTtl } = this.#d.config;
    return {
      accessTtl: Math.min(input.access_ttl ?? accessTokenTtl, accessTokenTtl),
      refreshTtl: Math.min(input.refresh_ttl ?? refreshTokenTtl, refreshTokenTtl),
    };
  }

  async #tokens(session: SessionRecord, refreshToken: string, at: number, ttl: number) {
    const iat = Math.floor(at / 1000);
    const accessToken = await this.#d.signer.sign({
      iss: this.#d.config.publicUrl,
      aud: session.project_id,
      sub: session.user_id,
      sid: session.id,
      role: session.role,
      amr: session.amr,
      auth_time: session.auth_time,
      iat,
      exp: iat + ttl,
    });
    return { access_token: accessToken, expires_in: ttl, refresh_token: refreshToken, session_id: session.id };
  }
}

function invalidGrant(): AppError {
  return new AppError('invalid_grant', 'the refresh token is invalid or expired');
}
