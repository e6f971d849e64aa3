import type { Bus } from '@gatehouse/kit';
import type { ChallengesService } from './challenges.service.ts';

/** Serves `mfa.challenge.create` and `mfa.challenge.verify`. */
export function registerChallengeHandlers(bus: Bus, challenges: ChallengesService): void {
  bus.serve('mfa.challenge.create', async (m) => {
    const { mfaToken, methods, expiresIn } = await challenges.create(
      { projectId: m.project_id, userId: m.user_id },
      m.amr,
    );
    return { mfa_token: mfaToken, methods, expires_in: expiresIn };
  });

  bus.serve('mfa.challenge.verify', async (m) => {
    const { ref, amr } = await challenges.verify(m.mfa_token, {
      code: m.code,
      recoveryCode: m.recovery_code,
      webauthn: m.webauthn,
    });
    return { project_id: ref.projectId, user_id: ref.userId, amr };
  });
}
