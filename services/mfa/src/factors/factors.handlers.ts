import type { Bus } from '@gatehouse/kit';
import type { FactorsService } from './factors.service.ts';

/** Serves `mfa.code.verify` and `mfa.factors.forget`. */
export function registerFactorHandlers(bus: Bus, factors: FactorsService): void {
  const refOf = (m: { project_id: string; user_id: string }) => ({ projectId: m.project_id, userId: m.user_id });

  bus.serve('mfa.code.verify', async (m) => {
    await factors.verifyCode(refOf(m), m.code);
    return {};
  });

  bus.serve('mfa.factors.forget', async (m, ctx) =>
    factors.forget(refOf(m), m.added_since === undefined ? null : new Date(m.added_since), ctx.requestId),
  );
}
