import type { Bus } from '@gatehouse/kit';
import type { TotpService } from './totp.service.ts';

/** Serves `mfa.totp.*` and `mfa.recovery.regenerate`; the bus has validated each request. */
export function registerTotpHandlers(bus: Bus, totp: TotpService): void {
  const refOf = (m: { project_id: string; user_id: string }) => ({ projectId: m.project_id, userId: m.user_id });

  bus.serve('mfa.totp.setup', async (m) => {
    const { secret, otpauthUrl } = await totp.setup(refOf(m), m.account_name);
    return { secret, otpauth_url: otpauthUrl };
  });

  bus.serve('mfa.totp.enable', async (m, ctx) => ({
    recovery_codes: await totp.enable(refOf(m), m.code, ctx.requestId),
  }));

  bus.serve('mfa.totp.disable', async (m, ctx) => {
    await totp.disable(refOf(m), m.code, ctx.requestId);
    return {};
  });

  bus.serve('mfa.recovery.regenerate', async (m, ctx) => ({
    recovery_codes: await totp.regenerateRecoveryCodes(refOf(m), m.code, ctx.requestId),
  }));
}
