import type { Bus } from '@gatehouse/kit';
import type { AdminUsers } from './admin-users.ts';

/** Serves `identity.admin.user.*`: the admin API's view of users (the gateway checked the caller's role). */
export function registerAdminUserHandlers(bus: Bus, admin: AdminUsers): void {
  bus.serve('identity.admin.user.list', async (m) =>
    admin.list({
      projectId: m.project_id,
      ...(m.search !== undefined ? { search: m.search } : {}),
      limit: m.limit,
      ...(m.cursor !== undefined ? { cursor: m.cursor } : {}),
    }),
  );

  bus.serve('identity.admin.user.update', async (m) => ({
    user: await admin.update({
      projectId: m.project_id,
      userId: m.user_id,
      ...(m.role !== undefined ? { role: m.role } : {}),
      ...(m.banned !== undefined ? { banned: m.banned } : {}),
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.email_verified !== undefined ? { emailVerified: m.email_verified } : {}),
      ...(m.metadata !== undefined ? { metadata: m.metadata } : {}),
    }),
  }));

  bus.serve('identity.admin.user.delete', async (m) => {
    await admin.delete(m.project_id, m.user_id);
    return {};
  });
}
