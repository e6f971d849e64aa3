import type { UserRecord } from '@gatehouse/contracts';
import type { AccountMail, Recipient } from '../account-mail/account-mail.ts';
import { invalidToken, type OneTimeTokens } from '../one-time-tokens/one-time-tokens.ts';
import { notFound } from '../users/user-errors.ts';
import type { UserEvents } from '../users/user-events.ts';
import { toUserRecord } from '../users/user-record.ts';
import type { UsersStore } from '../users/users.store.ts';

export interface EmailVerificationDeps {
  store: UsersStore;
  tokens: OneTimeTokens;
  events: UserEvents;
  mail: AccountMail;
}

/**
 * The proof that a user controls their address: a link mailed at sign-up (and
 * again on request) that marks the address verified when used.
 */
export class EmailVerification {
  readonly #deps: EmailVerificationDeps;

  constructor(deps: EmailVerificationDeps) {
    this.#deps = deps;
  }

  /**
   * Mails a verification link to a user's unverified address; does nothing
   * for a verified one or a user without an address. Throws `service_unavailable`.
   */
  async send(user: Recipient, redirectTo?: string, requestId?: string): Promise<void> {
    if (user.email === null || user.email_verified) return;
    await this.#deps.mail.sendLink(user, user.email, 'verify_email', redirectTo, requestId);
  }

  /** The authenticated `resend`: throws `not_found`. */
  async resend(projectId: string, userId: string, redirectTo?: string, requestId?: string): Promise<void> {
    const user = await this.#deps.store.findById(projectId, userId);
    if (!user) throw notFound();
    await this.send(user, redirectTo, requestId);
  }

  /** Marks the address verified. Throws `invalid_token`. Publishes `events.user.updated`. */
  async verify(projectId: string, token: string): Promise<UserRecord> {
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
}
