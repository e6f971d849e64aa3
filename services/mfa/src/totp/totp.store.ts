import { withDatabaseErrors } from '@gatehouse/db';
import { newId } from '@gatehouse/kit';
import { type Kysely, sql } from 'kysely';
import type { MfaDatabase, RecoveryCodeRow, TotpRow } from '../db/schema.ts';
import type { UserRef } from '../user-ref.ts';

/** What `disable` took away, so a failed follow-up can put it back. */
export interface TotpSnapshot {
  totp: TotpRow;
  recoveryCodes: RecoveryCodeRow[];
}

/**
 * Storage of TOTP secrets and recovery codes. Every method that decides
 * something (a step accepted, a code used, a setup enabled) is one
 * conditional statement, so of two concurrent attempts only one wins.
 * Throws `service_unavailable` when the database is down.
 */
export interface TotpStore {
  get(ref: UserRef): Promise<TotpRow | null>;
  /** Records a setup's sealed secret (replacing an earlier pending one); not for a user with TOTP on. */
  savePending(ref: UserRef, pendingSealed: string): Promise<void>;
  /**
   * Turns the pending secret `pendingSealed` on, with `step` as its last used
   * step, and replaces the recovery codes with `codeHashes`. False when the
   * pending secret changed meanwhile or TOTP is already on.
   */
  enable(ref: UserRef, pendingSealed: string, step: number, codeHashes: string[]): Promise<boolean>;
  /** Undoes `enable` (the secret is pending again, the codes gone), when the follow-up failed. */
  undoEnable(ref: UserRef, sealed: string): Promise<void>;
  /** Records `step` as the last used one; false when it is not newer than the recorded one (a replay). */
  acceptStep(ref: UserRef, step: number): Promise<boolean>;
  /**
   * Uses up an unused recovery code; false when there is none with one of
   * these hashes (the code's hash under each key it may have been issued under).
   */
  useRecoveryCode(ref: UserRef, codeHashes: readonly string[]): Promise<boolean>;
  /** Replaces every recovery code of the user; the old ones stop working. */
  replaceRecoveryCodes(ref: UserRef, codeHashes: string[]): Promise<void>;
  countUnusedRecoveryCodes(ref: UserRef): Promise<number>;
  /** Turns TOTP off: removes the secret and the recovery codes, and returns them; null when TOTP was not on. */
  disable(ref: UserRef): Promise<TotpSnapshot | null>;
  /** Puts back what `disable` removed. */
  restore(snapshot: TotpSnapshot): Promise<void>;
  /**
   * Claims one attempt of the user's code budget at `now`, atomically: the
   * window restarts once `windowMs` has passed since it began. Returns the
   * attempts claimed in the window (this one included) and when it began.
   */
  claimCodeAttempt(ref: UserRef, now: Date, windowMs: number): Promise<{ attempts: number; windowStartedAt: Date }>;
  /** A right code: the user's budget is whole again. */
  clearCodeAttempts(ref: UserRef): Promise<void>;
}

const mine = (ref: UserRef) => ({ project_id: ref.projectId, user_id: ref.userId });

/** The TotpStore over Postgres or PGlite (through kysely). */
export class PostgresTotpStore implements TotpStore {
  readonly #db: Kysely<MfaDatabase>;

  constructor(db: Kysely<MfaDatabase>) {
    this.#db = db;
  }

  async get(ref: UserRef): Promise<TotpRow | null> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .selectFrom('mfa_totp')
        .selectAll()
        .where('project_id', '=', ref.projectId)
        .where('user_id', '=', ref.userId)
        .executeTakeFirst(),
    );
    return row ?? null;
  }

  async savePending(ref: UserRef, pendingSealed: string): Promise<void> {
    await withDatabaseErrors(() =>
      this.#db
        .insertInto('mfa_totp')
        .values({ ...mine(ref), secret_sealed: null, pending_secret_sealed: pendingSealed, enabled_at: null })
        .onConflict((oc) =>
          oc
            .columns(['project_id', 'user_id'])
            .doUpdateSet({ pending_secret_sealed: pendingSealed })
            .where('mfa_totp.secret_sealed', 'is', null),
        )
        .execute(),
    );
  }

  async enable(ref: UserRef, pendingSealed: string, step: number, codeHashes: string[]): Promise<boolean> {
    return withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('mfa_totp')
          .set({
            secret_sealed: pendingSealed,
            pending_secret_sealed: null,
            enabled_at: sql<Date>`now()`,
            last_used_step: step,
          })
          .where('project_id', '=', ref.projectId)
          .where('user_id', '=', ref.userId)
          .where('pending_secret_sealed', '=', pendingSealed)
          .where('secret_sealed', 'is', null)
          .executeTakeFirst();
        if (updated.numUpdatedRows === 0n) return false;
        await insertCodes(trx, ref, codeHashes);
        return true;
      }),
    );
  }

  async undoEnable(ref: UserRef, sealed: string): Promise<void> {
    await withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        await trx
          .updateTable('mfa_totp')
          .set({ secret_sealed: null, pending_secret_sealed: sealed, enabled_at: null })
          .where('project_id', '=', ref.projectId)
          .where('user_id', '=', ref.userId)
          .where('secret_sealed', '=', sealed)
          .execute();
        await deleteCodes(trx, ref);
      }),
    );
  }

  async acceptStep(ref: UserRef, step: number): Promise<boolean> {
    const updated = await withDatabaseErrors(() =>
      this.#db
        .updateTable('mfa_totp')
        .set({ last_used_step: step })
        .where('project_id', '=', ref.projectId)
        .where('user_id', '=', ref.userId)
        .where('secret_sealed', 'is not', null)
        .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
        .executeTakeFirst(),
    );
    return updated.numUpdatedRows > 0n;
  }

  async claimCodeAttempt(
    ref: UserRef,
    now: Date,
    windowMs: number,
  ): Promise<{ attempts: number; windowStartedAt: Date }> {
    const expired = new Date(now.getTime() - windowMs);
    const row = await withDatabaseErrors(() =>
      this.#db
        .insertInto('mfa_code_failures')
        .values({ ...mine(ref), attempts: 1, window_started_at: now })
        .onConflict((oc) =>
          oc.columns(['project_id', 'user_id']).doUpdateSet({
            attempts: sql<number>`case when mfa_code_failures.window_started_at <= ${expired} then 1 else mfa_code_failures.attempts + 1 end`,
            window_started_at: sql<Date>`case when mfa_code_failures.window_started_at <= ${expired} then ${now} else mfa_code_failures.window_started_at end`,
          }),
        )
        .returning(['attempts', 'window_started_at'])
        .executeTakeFirstOrThrow(),
    );
    return { attempts: Number(row.attempts), windowStartedAt: new Date(row.window_started_at) };
  }

  async clearCodeAttempts(ref: UserRef): Promise<void> {
    await withDatabaseErrors(() =>
      this.#db
        .deleteFrom('mfa_code_failures')
        .where('project_id', '=', ref.projectId)
        .where('user_id', '=', ref.userId)
        .execute(),
    );
  }

  async useRecoveryCode(ref: UserRef, codeHashes: readonly string[]): Promise<boolean> {
    if (codeHashes.length === 0) return false;
    const updated = await withDatabaseErrors(() =>
      this.#db
        .updateTable('mfa_recovery_codes')
        .set({ used_at: sql<Date>`now()` })
        .where('project_id', '=', ref.projectId)
        .where('user_id', '=', ref.userId)
        .where('code_hash', 'in', codeHashes)
        .where('used_at', 'is', null)
        .executeTakeFirst(),
    );
    return updated.numUpdatedRows > 0n;
  }

  async replaceRecoveryCodes(ref: UserRef, codeHashes: string[]): Promise<void> {
    await withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        await deleteCodes(trx, ref);
        await insertCodes(trx, ref, codeHashes);
      }),
    );
  }

  async countUnusedRecoveryCodes(ref: UserRef): Promise<number> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .selectFrom('mfa_recovery_codes')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('project_id', '=', ref.projectId)
        .where('user_id', '=', ref.userId)
        .where('used_at', 'is', null)
        .executeTakeFirst(),
    );
    return Number(row?.n ?? 0);
  }

  async disable(ref: UserRef): Promise<TotpSnapshot | null> {
    return withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        const totp = await trx
          .deleteFrom('mfa_totp')
          .where('project_id', '=', ref.projectId)
          .where('user_id', '=', ref.userId)
          .where('secret_sealed', 'is not', null)
          .returningAll()
          .executeTakeFirst();
        if (!totp) return null;
        const recoveryCodes = await trx
          .deleteFrom('mfa_recovery_codes')
          .where('project_id', '=', ref.projectId)
          .where('user_id', '=', ref.userId)
          .returningAll()
          .execute();
        return { totp, recoveryCodes };
      }),
    );
  }

  async restore(snapshot: TotpSnapshot): Promise<void> {
    await withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        const { totp } = snapshot;
        await trx
          .insertInto('mfa_totp')
          .values({ ...totp, last_used_step: totp.last_used_step === null ? null : Number(totp.last_used_step) })
          .onConflict((oc) => oc.columns(['project_id', 'user_id']).doNothing())
          .execute();
        if (snapshot.recoveryCodes.length > 0) {
          await trx.insertInto('mfa_recovery_codes').values(snapshot.recoveryCodes).execute();
        }
      }),
    );
  }
}

type Trx = Kysely<MfaDatabase>;

async function deleteCodes(trx: Trx, ref: UserRef): Promise<void> {
  await trx
    .deleteFrom('mfa_recovery_codes')
    .where('project_id', '=', ref.projectId)
    .where('user_id', '=', ref.userId)
    .execute();
}

async function insertCodes(trx: Trx, ref: UserRef, codeHashes: string[]): Promise<void> {
  await trx
    .insertInto('mfa_recovery_codes')
    .values(codeHashes.map((code_hash) => ({ id: newId(), ...mine(ref), code_hash, used_at: null })))
    .execute();
}
