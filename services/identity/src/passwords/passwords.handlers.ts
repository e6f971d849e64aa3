import type { Bus } from '@gatehouse/kit';
import type { PasswordChange } from './password-change.ts';
import type { PasswordReset } from './password-reset.ts';

/**
 * Serves `identity.password.forgot`, `identity.password.reset` and
 * `identity.password.change`. The step-up check `identity.password.verify`
 * stays with the users: it answers as a sign-in does (users.service.ts).
 */
export function registerPasswordHandlers(bus: Bus, reset: PasswordReset, change: PasswordChange): void {
  bus.serve('identity.password.forgot', async (m, ctx) => {
    await reset.forgot(m.project_id, m.email, m.redirect_to, ctx.requestId);
    return {};
  });

  bus.serve('identity.password.reset', async (m, ctx) => {
    const { user, sessionIds } = await reset.reset(
      m.project_id,
      m.token,
      m.password,
      { ip: m.ip, userAgent: m.user_agent },
      ctx.requestId,
    );
    return { user, session_ids: sessionIds };
  });

  bus.serve('identity.password.change', async (m, ctx) => {
    await change.change(
      {
        projectId: m.project_id,
        userId: m.user_id,
        currentPassword: m.current_password,
        newPassword: m.new_password,
      },
      { ip: m.ip, userAgent: m.user_agent },
      ctx.requestId,
    );
    return {};
  });
}
