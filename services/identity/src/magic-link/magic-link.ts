import type { UserRecord } from '@gatehouse/contracts';
import { AppError, type Logger, normalizeEmail, requireEmail } from '@gatehouse/kit';
import type { AccountMail } from '../account-mail/account-mail.ts';
import type { AccountPeers } from '../account-peers.ts';
import type { ApiKeys } from '../api-keys/api-keys.ts';
import type { IdentitiesStore } from '../identities/identities.store.ts';
import { invalidToken, type OneTimeTokens } from '../one-time-tokens/one-time-tokens.ts';
import type { UserEvents } from '../users/user-events.ts';
import { toUserRecord } from '../users/user-record.ts';
import type { UsersStore } from '../users/users.store.ts';

export interface MagicLinkDeps {
  store: UsersStore;
  tokens: OneTimeTokens;
  peers: AccountPeers;
  /** The linked provider accounts: whoever registered an unproven address may have linked theirs. */
  identities: IdentitiesStore;
  /** And the API keys they made. */
  apiKeys: Pick<ApiKeys, 'revokeAll'>;
  events: UserEvents;
  mail: AccountMail;
  log: Logger;
}

/** Sign-in (and sign-up) by a link mailed to the address: no password needed. */
export class MagicLink {
  readonly #deps: MagicLinkDeps;

  constructor(deps: MagicLinkDeps) {
    this.#deps = deps;
  }

  /**
   * Mails a sign-in link: to a user's address, or to an address with no user
   * yet (the link signs it up). A banned user gets nothing. The link names,
   * and the mail goes to, the canonical form of the address (kit
   * `requireEmail`): never a second spelling of one mailbox, nor a list.
   * Throws `validation_failed` (field `email`), `service_unavailable`.
   */
  async send(projectId: string, email: string, redirectTo?: string, requestId?: string): Promise<void> {
    const address = requireEmail(email, 'email');
    const user = await this.#deps.store.findByEmail(projectId, address);
    if (user?.banned) return;
    await this.#deps.mail.sendLink(
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
  async verify(
    projectId: string,
    token: string,
    requestId?: string,
  ): Promise<{ user: UserRecord; created: boolean; sessionIds: string[] }> {
    const { store, tokens, events, peers, identities, apiKeys, log } = this.#deps;
    const peeked = await tokens.peek(projectId, 'magic_link', token);
    // A link issued before addresses were checked, for one no account may have (`zz,qq@…`): unusable.
    if (!peeked || normalizeEmail(peeked.email) === null) throw invalidToken();
    const unproven = await store.findByEmail(projectId, peeked.email);
    const claims = unproven !== null && !unproven.email_verified && !unproven.banned;
    const ended: string[] = [];
    if (claims) {
      ended.push(...(await peers.revokeSessions(unproven.id, 'address_proven', requestId)));
      await peers.forgetFactors(projectId, unproven.id, null, requestId);
      await identities.removeLinkedSince(projectId, unproven.id, null);
      await apiKeys.revokeAll(projectId, unproven.id);
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
}
