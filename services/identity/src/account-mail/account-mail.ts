import { DEFAULT_PROJECT_ID, type MailTemplateName } from '@gatehouse/contracts';
import { type Logger, type MailQueue, newId } from '@gatehouse/kit';
import {
  type OneTimeTokenRow,
  type OneTimeTokens,
  TOKEN_TTL_SECONDS,
  type TokenPurpose,
} from '../one-time-tokens/one-time-tokens.ts';
import type { UserRow, UsersStore } from '../users/users.store.ts';

export interface AccountMailDeps {
  store: UsersStore;
  tokens: OneTimeTokens;
  mail: Pick<MailQueue, 'enqueue'>;
  /** The links' default target is `${publicUrl}/auth/confirm`. */
  publicUrl: string;
  /**
   * A project's publishable key, for the links of a project other than the
   * default one: `&project=pk_...`, so the page that takes the link (the
   * confirm page, or the app's) names the project the token belongs to.
   */
  publishableKeyOf?: (projectId: string) => Promise<string | undefined>;
  log: Logger;
}

/** What a mail needs to know of its recipient: a stored row or its wire form. */
export type Recipient = Pick<UserRow, 'project_id' | 'email' | 'email_verified' | 'name'> & { id: string };

/** Who asked, for the notices. */
export interface Requester {
  ip?: string | undefined;
  userAgent?: string | undefined;
}

function humanDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return seconds === 86_400 ? '24 hours' : `${seconds / 86_400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? '1 hour' : `${seconds / 3600} hours`;
  return `${Math.round(seconds / 60)} minutes`;
}

/**
 * What every emailed flow shares: the mailing of a one-time link (email
 * verification, password reset, magic link, invitation), and the notices of a changed
 * password or an added sign-in method. The mails go to the durable mail
 * queue, which the mailer service renders and delivers. Links lead to
 * `redirect_to` (already checked against the allow-list by the gateway) or to
 * `PUBLIC_URL/auth/confirm`, with `?token=...&type=<purpose>`.
 */
export class AccountMail {
  readonly #deps: AccountMailDeps;

  constructor(deps: AccountMailDeps) {
    this.#deps = deps;
  }

  /** Issues a token of `purpose` for `email` and mails its link there. Throws `service_unavailable`. */
  async sendLink(
    user: Pick<UserRow, 'project_id' | 'name'> & { id: string | null },
    email: string,
    purpose: TokenPurpose,
    redirectTo: string | undefined,
    requestId: string | undefined,
  ): Promise<void> {
    const { token } = await this.#deps.tokens.issue({ projectId: user.project_id, userId: user.id, email, purpose });
    await this.#mailLink(user, email, purpose, token, redirectTo, {}, requestId);
  }

  /**
   * Issues an invitation (a token of purpose `invitation` that gives `role`)
   * for `email` and mails its link there; the stored row, whose id names the
   * invitation. One that could not be queued is retired, so no invitation
   * is left open that nobody received. Throws `service_unavailable`.
   */
  async sendInvitation(
    projectId: string,
    email: string,
    invitation: { role: 'admin' | 'user'; invitedBy: string },
    redirectTo: string | undefined,
    requestId: string | undefined,
  ): Promise<OneTimeTokenRow> {
    const { tokens, log } = this.#deps;
    const { token, row } = await tokens.issue({ projectId, userId: null, email, purpose: 'invitation', invitation });
    const recipient = { project_id: projectId, name: null };
    try {
      await this.#mailLink(recipient, email, 'invitation', token, redirectTo, { role: invitation.role }, requestId);
    } catch (err) {
      await tokens.retire(projectId, 'invitation', row.id).catch((retireErr: unknown) => {
        log.error({ err: retireErr, invitationId: row.id }, 'could not retire an invitation that was not mailed');
      });
      throw err;
    }
    return row;
  }

  /** Mails `token`'s link: to `redirectTo` or PUBLIC_URL/auth/confirm, with `?token=&type=<purpose>`. */
  async #mailLink(
    user: Pick<UserRow, 'project_id' | 'name'>,
    email: string,
    purpose: TokenPurpose,
    token: string,
    redirectTo: string | undefined,
    vars: Record<string, string>,
    requestId: string | undefined,
  ): Promise<void> {
    const link = new URL(redirectTo ?? `${this.#deps.publicUrl}/auth/confirm`);
    link.searchParams.set('token', token);
    link.searchParams.set('type', purpose);
    if (user.project_id !== DEFAULT_PROJECT_ID) {
      const key = await this.#deps.publishableKeyOf?.(user.project_id);
      if (key) link.searchParams.set('project', key);
    }
    return this.#enqueue(
      user,
      email,
      purpose,
      { ...vars, link: link.toString(), expires_in: humanDuration(TOKEN_TTL_SECONDS[purpose]) },
      requestId,
    );
  }

  /**
   * Mails the user that a sign-in method was added, so that one added by
   * someone else does not go unnoticed. Best effort, like the password notice.
   */
  async factorAdded(
    projectId: string,
    userId: string,
    factor: 'totp' | 'passkey' | 'provider',
    /** The passkey's name, or the provider's (`GitHub`) for a linked provider account. */
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
          factor:
            factor === 'provider'
              ? `A ${name ?? 'social'} account`
              : factor === 'passkey'
                ? 'A passkey'
                : 'An authenticator app',
          factor_name: factor === 'provider' ? '' : (name ?? ''),
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
