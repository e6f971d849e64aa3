import type { Bus } from '@gatehouse/kit';
import type { AccountMail } from './account-mail.ts';

/**
 * Serves `identity.notice.factor_added`: the gateway, once a second factor is
 * added, asks identity (which holds the address) to mail the notice. The
 * password notice has no subject of its own: the password flows send it.
 */
export function registerAccountMailHandlers(bus: Bus, mail: AccountMail): void {
  bus.serve('identity.notice.factor_added', async (m, ctx) => {
    await mail.factorAdded(
      m.project_id,
      m.user_id,
      m.factor,
      m.name,
      { ip: m.ip, userAgent: m.user_agent },
      ctx.requestId,
    );
    return {};
  });
}
