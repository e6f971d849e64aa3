import type { Bus } from '@gatehouse/kit';
import type { AccountEmails } from './account-emails.ts';

/**
 * Serves the subjects of the emailed flows: `identity.email.*`,
 * `identity.password.forgot|reset` and `identity.magic_link.*`.
 */
export function registerEmailHandlers(bus: Bus, emails: AccountEmails): void {
  bus.serve('identity.email.verify', async (m) => ({ user: await emails.verifyEmail(m.project_id, m.token) }));

  bus.serve('identity.email.resend', async (m, ctx) => {
    await emails.resendVerification(m.project_id, m.user_id, m.redirect_to, ctx.requestId);
    return {};
  });

  bus.serve('identity.password.forgot', async (m, ctx) => {
    await emails.forgotPassword(m.project_id, m.email, m.redirect_to, ctx.requestId);
    return {};
  });

  bus.serve('identity.password.reset', async (m, ctx) => {
    const { user, sessionIds } = await emails.resetPassword(
      m.project_id,
      m.token,
      m.password,
      { ip: m.ip, userAgent: m.user_agent },
      ctx.requestId,
    );
    return { user, session_ids: sessionIds };
  });

  bus.serve('identity.magic_link.send', async (m, ctx) => {
    await emails.sendMagicLink(m.project_id, m.email, m.redirect_to, ctx.requestId);
    return {};
  });

  bus.serve('identity.magic_link.verify', async (m, ctx) => {
    const { user, created, sessionIds } = await emails.verifyMagicLink(m.project_id, m.token, ctx.requestId);
    return { user, created, session_ids: sessionIds };
  });

  bus.serve('identity.notice.factor_added', async (m, ctx) => {
    await emails.factorAdded(
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
