import type { Bus } from '@gatehouse/kit';
import type { SessionService } from './sessions.service.ts';

/**
 * Serves the session subjects. The bus has already validated each request
 * against its contract schema, and validates each reply; errors travel as
 * AppErrors with their code.
 */
export function registerSessionHandlers(bus: Bus, sessions: SessionService): void {
  bus.serve('session.session.create', (req) => sessions.create(req));
  bus.serve('session.session.refresh', (req) => sessions.refresh(req));
  bus.serve('session.session.revoke', async (req) => {
    await sessions.revoke(req);
    return {};
  });
  bus.serve('session.user.revoke', async (req) => ({ session_ids: await sessions.revokeUser(req) }));
  bus.serve('session.session.list', async (req) => ({ sessions: await sessions.list(req.user_id) }));
  bus.serve('session.revocation.list', async () => ({ revoked: await sessions.revocations() }));
}
