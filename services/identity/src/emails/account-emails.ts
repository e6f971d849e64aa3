import type { MailTemplateName, UserRecord } from '@gatehouse/contracts';
import { AppError, type Logger, type MailQueue, newId, normalizeEmail, requireEmail } from '@gatehouse/kit';
import type { Passwords } from '../passwords/passwords.ts';
import type { UserEvents } from '../users/user-events.ts';
import { toUserRecord } from '../users/user-record.ts';
import type { UserRow, UsersStore } from '../users/users.store.ts';
import { type OneTimeTokens, TOKEN_TTL_SECONDS, type TokenPurpose } from './one-time-tokens.ts';

/**
 * What identity asks of the other services when an account changes hands: the
 * session service ends sessions, the mfa service removes second factors.
 * Both throw `service_unavailable` when they cannot be reached.
 */
export interface AccountPeers {
  /** Ends every session of the user; the ids that ended. */
  revokeSessions(userId: string, reason: string, requestId?: string): Promise<string[]>;
  /** Removes the user's second factors added since `addedSince` (all of them for null). */
  forgetFactors(projectId: string, userId: string, addedSince: Date | null, requestId?: string): Promise<void>;
}

export interface AccountEmailsDeps {
  store: UsersStore;
  peers: AccountPeers;
  /** RESET_REMOVES_FACTORS_DAYS: a reset removes the factors added this recently (0: none). */
  resetRemovesFactorsDays: number;
  tokens: OneTimeTokens;
  passwords: Passwords;
  events: UserEvents;
  mail: Pick<MailQueue, 'enqueue'>;
  /** The links' default target is `${publicUrl}/auth/confirm`. */
  publicUrl: string;
  log: Logger;
}

/** What a mail needs to know of its recipient: a stored row or its wire form. */
type Recipient = Pick<UserRow, 'project_id' | 'email' | 'email_verified' | 'name'> & { id: string };

/** Who asked, for the notices. */
export interface Requester {
  ip?: string | undefined;
  userAgent?: string | undefined;
}

/** One answer for every unusable token: unknown, used, expired, or for an address that changed since. */
const invalidToken = () => new AppError('invalid_token', 'this link is invalid or has expired');

function humanDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return seconds === 86_400 ? '24 hours' : `${seconds / 86_400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? '1 hour' : `${seconds / 3600} hours`;
  return `${Math.round(seconds / 60)} minutes`;
}

/**
 * Everything identity mails: the verification of an address, the password
 * reset, the magic link, and the notice of a changed password. Tokens come
 * from OneTimeTokens; the mails go to the durable mail queue, which the
 * mailer service renders and delivers. Links lead to `redirect_to` (already
 * checked against the allow-list by the gateway) or to `PUBLIC_URL/auth/confirm`,
 * with `?token=...&type=<purpose>`.
 */
export class AccountEmails {
  readonly #deps: AccountEmailsDeps;

  constructor(deps: AccountEmailsDeps) {
    this.#deps = deps;
  }

  /**
   * Mails a verification link to a user's unverified address; does nothing
   * for a verified one or a user without an address. Throws `service_unavailable`.
   */
  async sendVerification(user: Recipient, redirectTo?: string, requestId?: string): Promise<void> {
    if (user.email === null || user.email_verified) return;
    await this.#sendLink(user, user.email, 'verify_email', redirectTo, requestId);
  }

  /** The authenticated `resend`: throws `not_found`. */
  async resendVerification(projectId: string, userId: string, redirectTo?: string, requestId?: string) {
    const user = await this.#deps.store.findById(projectId, userId);
    if (!user) throw new AppError('not_found', 'no such user');
    await this.sendVerification(user, redirectTo, requestId);
  }

  /** Marks the address verified. Throws `invalid_token`. Publishes `events.user.updated`. */
  async verifyEmail(projectId: string, token: string): Promise<UserRecord> {
    const row = await this.#deps.tokens.consume(projectId, 'verify_email', token);
    const user = row?.user_id ? await this.#deps.store.findById(projectId, row.user_id) : null;
    // The link proves control of the address it was sent to, not of one set later.
    if (!row || !user || user.email !== row.email) throw invalidToken();
    if (user.email_verified) return toUserRecord(user);
    const updated = await this.#deps.store.update(projectId, user.id, { emailVerified: true }, { email: row.email });
    if (!updated) throw invalidToken();
    await this.#deps.events.changed('events.user.updated', updated);
    return toUserRecord(updated);
  }

  /**
   * Mails a reset link when the address belongs to a user who may sign in;
   * does nothing otherwise, and the caller answers the same either way.
   * Throws `validation_failed` (field `email`) for an address that is not one
   * acceptable mailbox: that says nothing of any account.
   */
  async forgotPassword(projectId: string, email: string, redirectTo?: string, requestId?: string): Promise<void> {
    const user = await this.#deps.store.findByEmail(projectId, requireEmail(email, 'email'));
    if (!user?.email || user.banned) return;
    await this.#sendLink(user, user.email, 'reset_password', redirectTo, requestId);
  }

  /**
   * Sets a new password from a reset link, and marks the address verified
   * (the link reached it). Whoever held the account before is put out first:
   * every session ends and the second factors added in the last
   * `resetRemovesFactorsDays` go (all of them when the address had never been
   * proven: they were set up by whoever registered it). Only then is the link
   * used and the password set, so a peer that fails leaves the link usable
   * for a retry; sessions opened in between end with a second revocation.
   * Throws `invalid_token`, `service_unavailable`. Publishes `events.user.password_changed`.
   */
  async resetPassword(projectId: string, token: string, password: string, who: Requester, requestId?: string) {
    const { store, tokens, passwords, events, peers, log } = this.#deps;
    const peeked = await tokens.peek(projectId, 'reset_password', token);
    const user = peeked?.user_id ? await store.findById(projectId, peeked.user_id) : null;
    if (!peeked || !user || user.email !== peeked.email || user.banned) throw invalidToken();
    const passwordHash = await passwords.hash(password);
    const ended = await peers.revokeSessions(user.id, 'password_reset', requestId);
    const since = this.#factorsRemovedSince(user);
    if (since !== undefined) await peers.forgetFactors(projectId, user.id, since, requestId);
    const row = await tokens.consume(projectId, 'reset_password', token);
    if (!row) throw invalidToken();
    const updated = await store.update(projectId, user.id, { passwordHash, emailVerified: true }, { email: row.email });
    if (!updated) throw invalidToken();
    // A sign-in with the old password between the revocation and the update got a session: end it too.
    const late = await peers.revokeSessions(user.id, 'password_reset', requestId).catch((err) => {
      log.error({ err, userId: user.id }, 'could not end the sessions opened during a password reset');
      return [];
    });
    await events.changed('events.user.password_changed', updated);
    await this.passwordChanged(updated, who, requestId);
    return { user: toUserRecord(updated), sessionIds: [...ended, ...late] };
  }

  /** Null: every factor (the address was never proven); a date: those added since; undefined: none. */
  #factorsRemovedSince(user: UserRow): Date | null | undefined {
    if (!user.email_verified) return null;
    const days = this.#deps.resetRemovesFactorsDays;
    return days > 0 ? new Date(Date.now() - days * 86_400_000) : undefined;
  }

  /**
   * Mails a sign-in link: to a user's address, or to an address with no user
   * yet (the link signs it up). A banned user gets nothing. The link names,
   * and the mail goes to, the canonical form of the address (kit
   * `requireEmail`): never a second spelling of one mailbox, nor a list.
   * Throws `validation_failed` (field `email`), `service_unavailable`.
   */
  async sendMagicLink(projectId: string, email: string, redirectTo?: string, requestId?: string): Promise<void> {
    const address = requireEmail(email, 'email');
    const user = await this.#deps.store.findByEmail(projectId, address);
    if (user?.banned) return;
    await this.#sendLink(
      user ?? { project_id: projectId, id: null, name: null },
      address,
      'magic_link',
      redirectTo,
      requestId,
    );
  }

  /**
   * Uses a magic link: the user it names, created on first use (no password,
   * role `user`), with the address now verified. When the address of an
   * existing account is proven here for the first time, what was set up
   * before the proof may be someone else's (an attacker can register your
   * address and wait): its sessions end, its second factors and its password
   * go, before the link is used (so a peer that fails leaves it usable); the
   * owner can set a password afterwards. Throws `invalid_token`, `user_banned`,
   * `service_unavailable`.
   */
  async verifyMagicLink(
    projectId: string,
    token: string,
    requestId?: string,
  ): Promise<{ user: UserRecord; created: boolean; sessionIds: string[] }> {
    const { store, tokens, events, peers, log } = this.#deps;
    const peeked = await tokens.peek(projectId, 'magic_link', token);
    // A link issued before addresses were checked, for one no account may have (`zz,qq@…`): unusable.
    if (!peeked || normalizeEmail(peeked.email) === null) throw invalidToken();
    const unproven = await store.findByEmail(projectId, peeked.email);
    const claims = unproven !== null && !unproven.email_verified && !unproven.banned;
    const ended: string[] = [];
    if (claims) {
      ended.push(...(await peers.revokeSessions(unproven.id, 'address_proven', requestId)));
      await peers.forgetFactors(projectId, unproven.id, null, requestId);
    }
    const row = await tokens.consume(projectId, 'magic_link', token);
    if (!row) throw invalidToken();
    let user = await store.findByEmail(projectId, row.email);
    if (row.user_id !== null && user?.id !== row.user_id) throw invalidToken(); // deleted, or the address moved
    if (user === null) {
      try {
        user = await store.create({
          projectId,
          email: row.email,
          passwordHash: null,
          role: 'user',
          emailVerified: true,
        });
        await events.created(user);
        return { user: toUserRecord(user), created: true, sessionIds: ended };
      } catch (err) {
        // Signed up by another path meanwhile: sign in to that account.
        if (!(err instanceof AppError && err.code === 'email_taken')) throw err;
        user = await store.findByEmail(projectId, row.email);
        if (!user) throw invalidToken();
      }
    }
    if (user.banned) throw new AppError('user_banned', 'this account is banned');
    if (!user.email_verified) {
      // Proven now: a password set before the proof is not the owner's to keep.
      const changes =
        user.id === unproven?.id && claims ? { emailVerified: true, passwordHash: null } : { emailVerified: true };
      const hadPassword = user.password_hash !== null && 'passwordHash' in changes;
      user = (await store.update(projectId, user.id, changes, { email: row.email })) ?? user;
      await events.changed('events.user.updated', user);
      if (hadPassword) {
        // A password sign-in between the revocation and the update got a session: end it too.
        const userId = user.id;
        const late = await peers.revokeSessions(userId, 'address_proven', requestId).catch((err) => {
          log.error({ err, userId }, 'could not end the sessions opened while an address was proven');
          return [];
        });
        ended.push(...late);
      }
    }
    return { user: toUserRecord(user), created: false, sessionIds: ended };
  }

  /**
   * Mails the user that a sign-in method was added, so that one added by
   * someone else does not go unnoticed. Best effort, like the password notice.
   */
  async factorAdded(
    projectId: string,
    userId: string,
    factor: 'totp' | 'passkey',
    name: string | undefined,
    who: Requester,
    requestId?: string,
  ): Promise<void> {
    const user = await this.#deps.store.findById(projectId, userId);
    if (!user?.email) return;
    try {
      await this.#enqueue(
        user,
        user.email,
        'factor_added',
        {
          factor: factor === 'passkey' ? 'A passkey' : 'An authenticator app',
          factor_name: name ?? '',
          at: new Date().toISOString(),
          ip: who.ip ?? '',
          user_agent: who.userAgent ?? '',
        },
        requestId,
      );
    } catch (err) {
      this.#deps.log.error({ err, userId }, 'could not queue the sign-in-method notice');
    }
  }

  /**
   * The notice that a password was changed. Best effort: the change is made
   * and must be reported as made even if the queue is down.
   */
  async passwordChanged(user: Recipient, who: Requester, requestId?: string): Promise<void> {
    if (user.email === null) return;
    try {
      await this.#enqueue(
        user,
        user.email,
        'password_changed',
        {
          at: new Date().toISOString(),
          ip: who.ip ?? '',
          user_agent: who.userAgent ?? '',
        },
        requestId,
      );
    } catch (err) {
      this.#deps.log.error({ err, userId: user.id }, 'could not queue the password-changed notice');
    }
  }

  async #sendLink(
    user: Pick<UserRow, 'project_id' | 'name'> & { id: string | null },
    email: string,
    purpose: TokenPurpose,
    redirectTo: string | undefined,
    requestId: string | undefined,
  ): Promise<void> {
    const { token } = await this.#deps.tokens.issue({ projectId: user.project_id, userId: user.id, email, purpose });
    const link = new URL(redirectTo ?? `${this.#deps.publicUrl}/auth/confirm`);
    link.searchParams.set('token', token);
    link.searchParams.set('type', purpose);
    await this.#enqueue(
      user,
      email,
      purpose,
      { link: link.toString(), expires_in: humanDuration(TOKEN_TTL_SECONDS[purpose]) },
      requestId,
    );
  }

  #enqueue(
    user: Pick<UserRow, 'project_id' | 'name'>,
    to: string,
    template: MailTemplateName,
    vars: Record<string, string>,
    requestId: string | undefined,
  ): Promise<void> {
    return this.#deps.mail.enqueue(
      {
        v: 1,
        id: newId(),
        project_id: user.project_id,
        template,
        to,
        vars: { app_name: 'Gatehouse', email: to, name: user.name ?? '', ...vars },
        created_at: new Date().toISOString(),
      },
      requestId ? { requestId } : {},
    );
  }
}
