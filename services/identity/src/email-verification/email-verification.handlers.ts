import type { Bus } from '@gatehouse/kit';
import type { EmailVerification } from './email-verification.ts';

/** Serves `identity.email.verify` and `identity.email.resend`; sign-up's first link is sent by `identity.user.register`. */
export function registerEmailVerificationHandlers(bus: Bus, verification: EmailVerification): void {
  bus.serve('identity.email.verify', async (m) => ({ user: await verification.verify(m.project_id, m.token) }));

  bus.serve('identity.email.resend', async (m, ctx) => {
    await verification.resend(m.project_id, m.user_id, m.redirect_to, ctx.requestId);
    return {};
  });
}
