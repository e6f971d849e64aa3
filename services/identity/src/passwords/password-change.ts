import type { AccountMail, Requester } from '../account-mail/account-mail.ts';
import { invalidCredentials, notFound } from '../users/user-errors.ts';
import type { UserEvents } from '../users/user-events.ts';
import type { UsersStore } from '../users/users.store.ts';
import type { Passwords } from './passwords.ts';

export interface PasswordChangeDeps {
  store: UsersStore;
  passwords: Passwords;
  events: UserEvents;
  mail: AccountMail;
}

/** A signed-in user replaces their password, giving the current one (see password-reset.ts for a forgotten one). */
export class PasswordChange {
  readonly #deps: PasswordChangeDeps;

  constructor(deps: PasswordChangeDeps) {
    this.#deps = deps;
  }

  /**
   * Sets `newPassword`, then mails the notice. Throws `not_found`,
   * `invalid_credentials` (wrong current password, or none set). Publishes
   * `events.user.password_changed`.
   */
  async change(
    input: { projectId: string; userId: string; currentPassword: string; newPassword: string },
    who: Requester,
    requestId?: string,
  ): Promise<void> {
    const { store, passwords, events, mail } = this.#deps;
    const user = await store.findById(input.projectId, input.userId);
    if (!user) throw notFound();
    if (user.password_hash === null || !(await passwords.verify(user.password_hash, input.currentPassword))) {
      throw invalidCredentials();
    }
    const passwordHash = await passwords.hash(input.newPassword);
    const updated = await store.update(user.project_id, user.id, { passwordHash });
    if (!updated) throw notFound();
    await events.changed('events.user.password_changed', user);
    await mail.passwordChanged(updated, who, requestId);
  }
}
