import { AppError, type Bus } from '@gatehouse/kit';
import type { ChallengesService } from '../challenges/challenges.service.ts';
import { SECOND_FACTOR_AMR } from '../challenges/challenges.service.ts';
import type { LoginTarget, PasskeysService } from './passkeys.service.ts';

/** Serves `mfa.passkey.*`. */
export function registerPasskeyHandlers(bus: Bus, passkeys: PasskeysService, challenges: ChallengesService): void {
  const refOf = (m: { project_id: string; user_id: string }) => ({ projectId: m.project_id, userId: m.user_id });

  bus.serve('mfa.passkey.register_options', async (m) => ({
    options: await passkeys.registrationOptions(refOf(m), { name: m.user_name, displayName: m.user_display_name }),
  }));

  bus.serve('mfa.passkey.register_verify', async (m, ctx) => ({
    passkey: await passkeys.register(refOf(m), m.response, m.name, ctx.requestId),
  }));

  bus.serve('mfa.passkey.login_options', async (m) => {
    const named = [m.user_id, m.mfa_token, m.email_hint].filter((v) => v !== undefined).length;
    if (named > 1) {
      throw new AppError('validation_failed', 'name at most one of user_id, mfa_token, email_hint', {
        details: [{ field: '/user_id', message: 'at most one of user_id, mfa_token, email_hint' }],
      });
    }
    let target: LoginTarget = { kind: 'discoverable' };
    if (m.mfa_token !== undefined) {
      const challenge = await challenges.live(m.mfa_token);
      if (challenge.projectId !== m.project_id) throw new AppError('invalid_token', 'the MFA token is invalid');
      target = { kind: 'mfa', challengeId: challenge.id, userId: challenge.userId };
    } else if (m.user_id !== undefined) target = { kind: 'user', userId: m.user_id };
    else if (m.email_hint !== undefined) target = { kind: 'unknown_email', email: m.email_hint };
    const { challengeId, options } = await passkeys.loginOptions(m.project_id, target);
    return { challenge_id: challengeId, options };
  });

  bus.serve('mfa.passkey.login_verify', async (m) => {
    const ref = await passkeys.login(m.project_id, m.challenge_id, m.response);
    // A passkey with user verification is both factors at once: possession and the PIN or biometric.
    return { project_id: ref.projectId, user_id: ref.userId, amr: [SECOND_FACTOR_AMR.webauthn] };
  });

  bus.serve('mfa.passkey.list', async (m) => ({ passkeys: await passkeys.list(refOf(m)) }));

  bus.serve('mfa.passkey.delete', async (m, ctx) => {
    await passkeys.delete(refOf(m), m.passkey_id, m.has_password, ctx.requestId);
    return {};
  });
}
