import { newId } from '@gatehouse/kit';
import { type Kysely, sql } from 'kysely';
import { uniqueViolation, withDatabaseErrors } from '../db/errors.ts';
import type { Database, IdentityRow } from '../db/schema.ts';

export type { IdentityRow } from '../db/schema.ts';

/** A provider account to link: who it is at the provider, and what address it gave. */
export interface ProviderAccount {
  provider: string;
  subject: string;
  /** Lower case, or null when the provider gives none. */
  email: string | null;
  emailVerified: boolean;
}

/** What `unlink` did: removed it, found no such identity of the user, or kept it as the last way in. */
export type UnlinkOutcome = 'unlinked' | 'not_found' | 'last_login_method';

/**
 * Linked social identities in Postgres. A provider account is linked to at
 * most one user of a project (a unique key on project, provider, subject), so
 * two sign-ins racing to claim one account cannot both win. Every method
 * throws `service_unavailable` when the database is down.
 */
export class IdentitiesStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  find(projectId: string, provider: string, subject: string): Promise<IdentityRow | null> {
    return withDatabaseErrors(async () => {
      const row = await this.#db
        .selectFrom('identities')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('provider', '=', provider)
        .where('subject', '=', subject)
        .executeTakeFirst();
      return row ?? null;
    });
  }

  listByUser(projectId: string, userId: string): Promise<IdentityRow[]> {
    return withDatabaseErrors(() =>
      this.#db
        .selectFrom('identities')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('user_id', '=', userId)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    );
  }

  /**
   * Links `account` to the user; the row, or null when the account is linked
   * already (to this user or another: read it with `find`).
   */
  link(projectId: string, userId: string, account: ProviderAccount): Promise<IdentityRow | null> {
    return withDatabaseErrors(() =>
      this.#db
        .insertInto('identities')
        .values({
          id: newId(),
          project_id: projectId,
          user_id: userId,
          provider: account.provider,
          subject: account.subject,
          email: account.email,
          email_verified: account.emailVerified,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((err: unknown) => {
          if (uniqueViolation(err) === 'identities_project_provider_subject_key') return null;
          throw err;
        }),
    );
  }

  /** Records the address the provider gives now (it may change there; the link does not). */
  async refresh(id: string, account: ProviderAccount): Promise<void> {
    await withDatabaseErrors(() =>
      this.#db
        .updateTable('identities')
        .set({ email: account.email, email_verified: account.emailVerified, updated_at: sql`now()` })
        .where('id', '=', id)
        .execute(),
    );
  }

  /**
   * Removes the user's identities linked since `since` (all of them: null),
   * as a password reset or a first proof of the address removes recently
   * added second factors: a provider account a thief linked goes with the
   * thief. Returns how many went.
   */
  removeLinkedSince(projectId: string, userId: string, since: Date | null): Promise<number> {
    return withDatabaseErrors(async () => {
      let query = this.#db.deleteFrom('identities').where('project_id', '=', projectId).where('user_id', '=', userId);
      if (since !== null) query = query.where('created_at', '>=', since);
      const result = await query.executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  /**
   * Removes one of the user's identities unless it is the last way to sign
   * in: no password, no other identity, and (`hasPasskey`, which the mfa
   * service knows) no passkey. The rule is checked in the statement that
   * deletes, so two removals at once cannot take away the last two ways in.
   */
  async unlink(projectId: string, userId: string, id: string, hasPasskey: boolean): Promise<UnlinkOutcome> {
    return withDatabaseErrors(async () => {
      const deleted = await this.#db
        .deleteFrom('identities')
        .where('id', '=', id)
        .where('project_id', '=', projectId)
        .where('user_id', '=', userId)
        .where((eb) =>
          eb.or([
            eb.val(hasPasskey),
            eb.exists(
              eb
                .selectFrom('identities as other')
                .select('other.id')
                .where('other.user_id', '=', userId)
                .where('other.id', '!=', id),
            ),
            eb.exists(
              eb
                .selectFrom('users')
                .select('users.id')
                .where('users.id', '=', userId)
                .where('users.password_hash', 'is not', null),
            ),
          ]),
        )
        .returning('id')
        .executeTakeFirst();
      if (deleted) return 'unlinked';
      const exists = await this.#db
        .selectFrom('identities')
        .select('id')
        .where('id', '=', id)
        .where('project_id', '=', projectId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return exists ? 'last_login_method' : 'not_found';
    });
  }
}
