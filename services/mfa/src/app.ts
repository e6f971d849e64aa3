import type { Bus, Logger } from '@gatehouse/kit';

export interface MfaDeps {
  bus: Bus;
  log: Logger;
}

/**
 * The mfa service: TOTP, recovery codes, passkeys and MFA challenges. This
 * release serves its health check only; the second factors arrive with their
 * own issue, behind the subjects declared in contracts.
 */
export async function startMfa(deps: MfaDeps): Promise<{ close(): Promise<void> }> {
  deps.bus.serve('mfa.health.check', async () => ({ ok: true }));
  return { close: async () => {} };
}
