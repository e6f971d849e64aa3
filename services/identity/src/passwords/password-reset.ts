// The password reset lives in passwords/ with the password change and the hashing, not in a
// password-reset/ folder of its own: `identity.password.forgot`, `.reset` and `.change` are one
// feature, served together by passwords.handlers.ts, and share the hasher. The file names say
// which flow is which (password-reset.ts, password-change.ts).
import { type Logger, requireEmail } from '@gatehouse/kit';
import type { AccountMail, Requester } from '../account-mail/account-mail.ts';
import type { AccountPeers } from '../account-peers.ts';
import type { ApiKeys } from '../api-keys/api-keys.ts';
import type { IdentitiesStore } from '../identities/identities.store.ts';
import { invalidToken, type OneTimeTokens } from '../one-time-tokens/one-time-tokens.ts';
import type { UserEvents } from '../users/user-events.ts';
import { toUserRecord } from '../users/user-record.ts';
import type { UserRow, UsersStore } from '../users/users.store.ts';
import type { Passwords } from './passwords.ts';

export interface PasswordResetDeps {
  store: UsersStore;
  tokens: OneTimeTokens;
  passwords: Passwords;
  peers: AccountPeers;
  /** The linked provider accounts: a sign-in method like a second factor, removed by the same rule. */
  identities: IdentitiesStore;
  /** A reset revokes every API key: a key made by whoever held the account must not outlive the reset. */
  apiKeys: Pick<ApiKeys, 'revokeAll'>;
  events: UserEvents;
  mail: AccountMail;
  /** RESET_REMOVES_FACTORS_DAYS: a reset removes the factors added this recently (0: none). */
  resetRemovesFactorsDays: number;
  log: Logger;
}

/** A forgotten password: a reset link mailed to the address, and the new password set from it. */
export class PasswordReset {
  readonly #deps: PasswordResetDeps;

  constructor(deps: PasswordResetDeps) {
    this.#deps = deps;
  }

  /**
   * Mails a reset link when the address belongs to a user who may sign in;
   * does nothing otherwise, and the caller answers the same either way.
   * Throws `validation_failed` (field `email`) for an address that is not one
   * acceptable mailbox: that says nothing of any account.
   */
  async forgot(projectId: string, email: string, redirectTo?: string, requestId?: string): Promise<void> {
    const user = await this.#deps.store.findByEmail(projectId, requireEmail(email, 'email'));
    if (!user?.email || user.banned) return;
    await this.#deps.mail.sendLink(user, user.email, 'reset_password', redirectTo, requestId);
  }

  /**
   * Sets a new password from a reset link, and marks the address verified
   * (the link reached it). Whoever held the account before is put out first:
   * every session and API key ends, and the second factors and provider accounts added in
   * the last `resetRemovesFactorsDays` go (all of them when the address had
   * never been proven: they were set up by whoever registered it). Only then is the link
   * used and the password set, so a peer that fails leaves the link usable
   * for a retry; sessions opened in between end with a second revocation.
   * Throws `invalid_token`, `service_unavailable`. Publishes `events.user.password_changed`.
   */
  async reset(projectId: string, token: string, password: string, who: Requester, requestId?: string) {
    const { store, tokens, passwords, events, peers, identities, apiKeys, mail, log } = this.#deps;
    const peeked = await tokens.peek(projectId, 'reset_password', token);
    const user = peeked?.user_id ? await store.findById(projectId, peeked.user_id) : null;
    if (!peeked || !user || user.email !== peeked.email || user.banned) throw invalidToken();
    const passwordHash = await passwords.hash(password);
    const ended = await peers.revokeSessions(user.id, 'password_reset', requestId);
    await apiKeys.revokeAll(projectId, user.id);
    const since = this.#factorsRemovedSince(user);
    if (since !== undefined) {
      await peers.forgetFactors(projectId, user.id, since, requestId);
      await identities.removeLinkedSince(projectId, user.id, since);
    }
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
    await mail.passwordChanged(updated, who, requestId);
    return { user: toUserRecord(updated), sessionIds: [...ended, ...late] };
  }

  /** Null: every factor (the address was never proven); a date: those added since; undefined: none. */
  #factorsRemovedSince(user: UserRow): Date | null | undefined {
    if (!user.email_verified) return null;
    const days = this.#deps.resetRemovesFactorsDays;
    return days > 0 ? new Date(Date.now() - days * 86_400_000) : undefined;
  }
}
