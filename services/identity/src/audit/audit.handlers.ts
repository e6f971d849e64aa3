import type { Bus } from '@gatehouse/kit';
import type { AuditLog } from './audit-log.ts';

/** Serves `identity.audit.list`: the admin API's view of the audit log (the gateway checked the caller's role). */
export function registerAuditHandlers(bus: Bus, audit: AuditLog): void {
  bus.serve('identity.audit.list', async (m) =>
    audit.list({
      projectId: m.project_id,
      ...(m.user_id !== undefined ? { userId: m.user_id } : {}),
      ...(m.type !== undefined ? { type: m.type } : {}),
      ...(m.since !== undefined ? { since: m.since } : {}),
      ...(m.until !== undefined ? { until: m.until } : {}),
      limit: m.limit,
      ...(m.cursor !== undefined ? { cursor: m.cursor } : {}),
    }),
  );
}
