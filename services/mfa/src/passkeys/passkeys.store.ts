import { uniqueViolation, withDatabaseErrors } from '@gatehouse/db';
import { AppError } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import type { MfaDatabase, PasskeyRow } from '../db/schema.ts';
import type { UserRef } from '../user-ref.ts';

export interface NewPasskey extends UserRef {
  id: string;
  credentialId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  name: string;
}

/** Why `deleteOwned` did not delete. */
export type DeleteOutcome = 'deleted' | 'not_found' | 'last_passkey';

/**
 * Storage of passkeys (WebAuthn credentials). Throws `service_unavailable`
 * when the database is down.
 */
export interface PasskeysStore {
  listByUser(ref: UserRef): Promise<PasskeyRow[]>;
  countByUser(ref: UserRef): Promise<number>;
  findByCredentialId(projectId: string, credentialId: string): Promise<PasskeyRow | null>;
  /** Throws `validation_failed` when the credential is registered already. */
  insert(passkey: NewPasskey): Promise<PasskeyRow>;
  /**
   * Records a use: the new counter and `last_used_at`, only if the counter is
   * still `expectedCounter` (so of two concurrent assertions only one counts).
   */
  recordUse(id: string, expectedCounter: number, newCounter: number, at: Date): Promise<boolean>;
  /**
   * Deletes the user's passkey `id`. With `keepOne`, refuses to delete the
   * user's last passkey (`last_passkey`); the check and the delete hold the
   * user's passkey rows locked, so two deletes cannot both pass it.
   */
  deleteOwned(ref: UserRef, id: string, options: { keepOne: boolean }): Promise<DeleteOutcome>;
  /** Deletes the user's passkeys registered at or after `since` (all of them for null); how many went. */
  deleteAddedSince(ref: UserRef, since: Date | null): Promise<number>;
}

export class PostgresPasskeysStore implements PasskeysStore {
  readonly #db: Kysely<MfaDatabase>;

  constructor(db: Kysely<MfaDatabase>) {
    this.#db = db;
  }

  listByUser(ref: UserRef): Promise<PasskeyRow[]> {
    return withDatabaseErrors(() =>
      this.#db
        .selectFrom('mfa_passkeys')
        .selectAll()
        .where('project_id', '=', ref.projectId)
        .where('user_id', '=', ref.userId)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    );
  }

  async countByUser(ref: UserRef): Promise<number> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .selectFrom('mfa_passkeys')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('project_id', '=', ref.projectId)
        .where('user_id', '=', ref.userId)
        .executeTakeFirst(),
    );
    return Number(row?.n ?? 0);
  }

  async findByCredentialId(projectId: string, credentialId: string): Promise<PasskeyRow | null> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .selectFrom('mfa_passkeys')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('credential_id', '=', credentialId)
        .executeTakeFirst(),
    );
    return row ?? null;
  }

  async insert(passkey: NewPasskey): Promise<PasskeyRow> {
    try {
      return await withDatabaseErrors(() =>
        this.#db
          .insertInto('mfa_passkeys')
          .values({
            id: passkey.id,
            project_id: passkey.projectId,
            user_id: passkey.userId,
            credential_id: passkey.credentialId,
            public_key: passkey.publicKey,
            counter: passkey.counter,
            transports: JSON.stringify(passkey.transports),
            name: passkey.name,
            last_used_at: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
    } catch (err) {
      if (uniqueViolation(err) !== undefined) {
        throw new AppError('validation_failed', 'this passkey is registered already', {
          details: [{ field: '/response/id', message: 'already registered' }],
        });
      }
      throw err;
    }
  }

  async recordUse(id: string, expectedCounter: number, newCounter: number, at: Date): Promise<boolean> {
    const updated = await withDatabaseErrors(() =>
      this.#db
        .updateTable('mfa_passkeys')
        .set({ counter: newCounter, last_used_at: at })
        .where('id', '=', id)
        .where('counter', '=', expectedCounter)
        .executeTakeFirst(),
    );
    return updated.numUpdatedRows > 0n;
  }

  deleteOwned(ref: UserRef, id: string, options: { keepOne: boolean }): Promise<DeleteOutcome> {
    return withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        const ids = await trx
          .selectFrom('mfa_passkeys')
          .select('id')
          .where('project_id', '=', ref.projectId)
          .where('user_id', '=', ref.userId)
          .forUpdate()
          .execute();
        if (!ids.some((row) => row.id === id)) return 'not_found';
        if (options.keepOne && ids.length === 1) return 'last_passkey';
        await trx.deleteFrom('mfa_passkeys').where('id', '=', id).execute();
        return 'deleted';
      }),
    );
  }

  async deleteAddedSince(ref: UserRef, since: Date | null): Promise<number> {
    const result = await withDatabaseErrors(() => {
      let query = this.#db
        .deleteFrom('mfa_passkeys')
        .where('project_id', '=', ref.projectId)
        .where('user_id', '=', ref.userId);
      if (since) query = query.where('created_at', '>=', since);
      return query.executeTakeFirst();
    });
    return Number(result.numDeletedRows);
  }
}
