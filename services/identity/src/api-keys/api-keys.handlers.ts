import type { Bus } from '@gatehouse/kit';
import type { ApiKeys } from './api-keys.ts';

/** Serves `identity.api_key.*`: a user's keys (the gateway's routes) and their verification (its authenticator). */
export function registerApiKeyHandlers(bus: Bus, keys: ApiKeys): void {
  bus.serve('identity.api_key.create', async (m) =>
    keys.create({
      projectId: m.project_id,
      userId: m.user_id,
      name: m.name,
      ...(m.expires_in_days !== undefined ? { expiresInDays: m.expires_in_days } : {}),
    }),
  );
  bus.serve('identity.api_key.list', async (m) => ({ api_keys: await keys.list(m.project_id, m.user_id) }));
  bus.serve('identity.api_key.revoke', async (m) => {
    await keys.revoke(m.project_id, m.user_id, m.key_id);
    return {};
  });
  bus.serve('identity.api_key.verify', async (m) => keys.verify(m.key_hash));
  bus.serve('identity.api_key.touch', async (m) => {
    await keys.touch(m.uses);
    return {};
  });
}
