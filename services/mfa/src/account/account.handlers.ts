import type { Bus } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import type { MfaDatabase } from '../db/schema.ts';
import { eraseUserData } from './user-data.store.ts';

/**
 * A deleted user's secrets, recovery codes, passkeys and open challenges go
 * with the account. One mfa replica handles each event (queue group `mfa`).
 */
export function registerAccountHandlers(bus: Bus, db: Kysely<MfaDatabase>): void {
  bus.subscribe(
    'events.user.deleted',
    async (event, ctx) => {
      await eraseUserData(db, { projectId: event.project_id, userId: event.user_id });
      ctx.log.info({ userId: event.user_id }, 'erased the mfa data of a deleted user');
    },
    { queue: 'mfa' },
  );
}
