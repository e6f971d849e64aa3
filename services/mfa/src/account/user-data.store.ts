import { withDatabaseErrors } from '@gatehouse/db';
import type { Kysely } from 'kysely';
import type { MfaDatabase } from '../db/schema.ts';
import type { UserRef } from '../user-ref.ts';

/** Every mfa table keyed by user: what erasing a user clears. */
const USER_TABLES = [
  'mfa_totp',
  'mfa_recovery_codes',
  'mfa_challenges',
  'mfa_webauthn_challenges',
  'mfa_passkeys',
] as const satisfies readonly (keyof MfaDatabase)[];

/** Removes everything the mfa service holds about a user, in one transaction. */
export async function eraseUserData(db: Kysely<MfaDatabase>, ref: UserRef): Promise<void> {
  await withDatabaseErrors(() =>
    db.transaction().execute(async (trx) => {
      for (const table of USER_TABLES) {
        await trx.deleteFrom(table).where('project_id', '=', ref.projectId).where('user_id', '=', ref.userId).execute();
      }
    }),
  );
}
