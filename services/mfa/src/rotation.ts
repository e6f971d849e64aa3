import { withDatabaseErrors } from '@gatehouse/db';
import { isSealedUnderPrimary, type KeyRing, keyId, type Logger, seal, unseal } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import type { MfaDatabase } from './db/schema.ts';
import { recoveryCodeKey } from './keys.ts';
import { totpSealContext } from './totp/totp.service.ts';

/** The sealing context of a carried recovery-code key: bound to the id of the SECRET_KEY it came from. */
const recoveryKeyContext = (kid: string) => `mfa_recovery_key:${kid}`;

/** Rows per page when walking the TOTP table. */
const PAGE = 500;

/**
 * The recovery-code keys that `keys rotate` carried over from earlier
 * SECRET_KEYs, opened with the ring. One that does not open is skipped with a
 * warning (its codes then do not verify), never fatal.
 */
export async function loadRecoveryKeys(db: Kysely<MfaDatabase>, ring: KeyRing, log: Logger): Promise<Buffer[]> {
  const rows = await withDatabaseErrors(() =>
    db.selectFrom('mfa_recovery_keys').select(['kid', 'key_sealed']).execute(),
  );
  const keys: Buffer[] = [];
  for (const row of rows) {
    try {
      keys.push(Buffer.from(unseal(ring, row.key_sealed, recoveryKeyContext(row.kid)), 'base64'));
    } catch (err) {
      log.warn({ kid: row.kid, err }, 'a carried recovery-code key does not open with SECRET_KEY: its codes will fail');
    }
  }
  return keys;
}

/** A value `resealMfaSecrets` could not open (left as it was). */
export interface ResealFailure {
  /** `mfa_totp:<project>:<user>` (and which column), or `mfa_recovery_keys:<kid>`. */
  where: string;
  error: string;
}

/** What `resealMfaSecrets` did. */
export interface MfaResealReport {
  /** TOTP secrets (enabled and pending) re-sealed under SECRET_KEY, already under it, changed meanwhile. */
  totp: { resealed: number; current: number; changed: number };
  /** Ids of the SECRET_KEY_PREVIOUS keys whose recovery-code keys are now kept in the database. */
  carried: string[];
  /** Carried recovery-code keys re-sealed under SECRET_KEY (from an earlier rotation). */
  recoveryKeysResealed: number;
  failed: ResealFailure[];
}

/**
 * `keys rotate` for mfa: re-seals every TOTP secret not sealed under the ring's
 * primary key (SECRET_KEY), and keeps the recovery-code key of each key of
 * SECRET_KEY_PREVIOUS, sealed under the primary, so that codes issued under it
 * verify once it is removed. Each write is a compare-and-set on the old sealed
 * value, so a concurrent change wins (and is counted as `changed`; run again).
 * Safe to run more than once.
 */
export async function resealMfaSecrets(db: Kysely<MfaDatabase>, ring: KeyRing): Promise<MfaResealReport> {
  const report: MfaResealReport = {
    totp: { resealed: 0, current: 0, changed: 0 },
    carried: [],
    recoveryKeysResealed: 0,
    failed: [],
  };
  await resealTotp(db, ring, report);

  for (const previous of ring.previous) {
    const kid = keyId(previous);
    const sealed = seal(ring, recoveryCodeKey(previous).toString('base64'), recoveryKeyContext(kid));
    await withDatabaseErrors(() =>
      db
        .insertInto('mfa_recovery_keys')
        .values({ kid, key_sealed: sealed })
        .onConflict((oc) => oc.column('kid').doNothing())
        .execute(),
    );
    report.carried.push(kid);
  }
  const carried = await withDatabaseErrors(() =>
    db.selectFrom('mfa_recovery_keys').select(['kid', 'key_sealed']).execute(),
  );
  for (const row of carried) {
    if (isSealedUnderPrimary(ring, row.key_sealed)) continue;
    const context = recoveryKeyContext(row.kid);
    let plain: string;
    try {
      plain = unseal(ring, row.key_sealed, context);
    } catch (err) {
      report.failed.push({ where: `mfa_recovery_keys:${row.kid}`, error: message(err) });
      continue;
    }
    const updated = await withDatabaseErrors(() =>
      db
        .updateTable('mfa_recovery_keys')
        .set({ key_sealed: seal(ring, plain, context) })
        .where('kid', '=', row.kid)
        .where('key_sealed', '=', row.key_sealed)
        .executeTakeFirst(),
    );
    if (updated.numUpdatedRows > 0n) report.recoveryKeysResealed++;
  }
  return report;
}

async function resealTotp(db: Kysely<MfaDatabase>, ring: KeyRing, report: MfaResealReport): Promise<void> {
  let after: { project_id: string; user_id: string } | undefined;
  for (;;) {
    const from = after;
    const rows = await withDatabaseErrors(() => {
      let query = db
        .selectFrom('mfa_totp')
        .select(['project_id', 'user_id', 'secret_sealed', 'pending_secret_sealed'])
        .orderBy('project_id')
        .orderBy('user_id')
        .limit(PAGE);
      if (from) {
        query = query.where((eb) =>
          eb.or([
            eb('project_id', '>', from.project_id),
            eb.and([eb('project_id', '=', from.project_id), eb('user_id', '>', from.user_id)]),
          ]),
        );
      }
      return query.execute();
    });
    for (const row of rows) {
      const ref = { projectId: row.project_id, userId: row.user_id };
      for (const column of ['secret_sealed', 'pending_secret_sealed'] as const) {
        const old = row[column];
        if (old === null) continue;
        if (isSealedUnderPrimary(ring, old)) {
          report.totp.current++;
          continue;
        }
        let plain: string;
        try {
          plain = unseal(ring, old, totpSealContext(ref));
        } catch (err) {
          report.failed.push({ where: `mfa_totp:${row.project_id}:${row.user_id} (${column})`, error: message(err) });
          continue;
        }
        const next = seal(ring, plain, totpSealContext(ref));
        const updated = await withDatabaseErrors(() =>
          db
            .updateTable('mfa_totp')
            .set({ [column]: next })
            .where('project_id', '=', row.project_id)
            .where('user_id', '=', row.user_id)
            .where(column, '=', old)
            .executeTakeFirst(),
        );
        if (updated.numUpdatedRows > 0n) report.totp.resealed++;
        else report.totp.changed++;
      }
    }
    const last = rows.at(-1);
    if (rows.length < PAGE || !last) return;
    after = { project_id: last.project_id, user_id: last.user_id };
  }
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
