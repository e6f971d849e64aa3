import { AppError, type Bus } from '@gatehouse/kit';
import type { IdentitiesStore } from './identities.store.ts';

/** Serves `identity.identity.list` and `identity.identity.unlink`: a user's linked provider accounts. */
export function registerIdentitiesHandlers(bus: Bus, identities: IdentitiesStore): void {
  bus.serve('identity.identity.list', async (m) => {
    const rows = await identities.listByUser(m.project_id, m.user_id);
    return {
      identities: rows.map((row) => ({
        id: row.id,
        provider: row.provider,
        email: row.email,
        created_at: row.created_at.toISOString(),
      })),
    };
  });

  bus.serve('identity.identity.unlink', async (m) => {
    const outcome = await identities.unlink(m.project_id, m.user_id, m.identity_id, m.has_passkey);
    if (outcome === 'not_found') throw new AppError('not_found', 'no such identity');
    if (outcome === 'last_login_method') {
      throw new AppError('last_login_method', 'this is the only way to sign in; set a password or add a passkey first');
    }
    return {};
  });
}
