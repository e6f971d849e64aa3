import { AppError, type Config, isAppError } from '@gatehouse/kit';
import type { FastifyRequest } from 'fastify';
import type { GatewayContext } from '../gateway-context.ts';
import type { Auth } from './authenticate.ts';

/** What a caller whose sign-in is older may send instead: the current password, or a TOTP or recovery code. */
export interface StepUpProof {
  password?: string | undefined;
  code?: string | undefined;
}

/**
 * True when the session's sign-in (not its last refresh) happened within
 * RECENT_SIGN_IN_SECONDS (5 minutes by default): enough to add or remove a
 * sign-in method, or to delete a passwordless account, without more proof.
 */
export const signedInRecently = (auth: Auth, config: Pick<Config, 'recentSignInSeconds'>): boolean =>
  Date.now() / 1000 - auth.claims.auth_time <= config.recentSignInSeconds;

/**
 * A stolen access token must not be enough to add a second factor of the
 * thief's (and so keep the account): adding or removing a sign-in method needs
 * a sign-in within RECENT_SIGN_IN_SECONDS, or the current password, or a TOTP or
 * recovery code. A wrong proof counts against the user's budget of failures
 * (claimed before it is checked, as a password sign-in's is). Throws
 * `reauthentication_required` (403) without proof, `invalid_credentials` /
 * `invalid_code` for a wrong one, `rate_limited`.
 */
export async function requireRecentSignIn(
  ctx: GatewayContext,
  request: FastifyRequest,
  auth: Auth,
  proof: StepUpProof,
): Promise<void> {
  if (signedInRecently(auth, ctx.config)) return;
  const { limits } = ctx;
  const bus = ctx.busFor(request);
  const ref = { project_id: auth.projectId, user_id: auth.claims.sub };
  if (proof.password === undefined && proof.code === undefined) {
    throw new AppError(
      'reauthentication_required',
      'sign in again, or send your current password (or a TOTP code) with this request',
    );
  }
  await limits.beginStepUp(request.ip, auth.projectId, auth.claims.sub);
  try {
    if (proof.password !== undefined) {
      await bus.request('identity.password.verify', { ...ref, password: proof.password });
    } else if (proof.code !== undefined) {
      await bus.request('mfa.code.verify', { ...ref, code: proof.code });
    }
  } catch (err) {
    // A wrong proof keeps its claim; anything else (503) gives it back.
    if (!isAppError(err, 'invalid_credentials') && !isAppError(err, 'invalid_code')) {
      await limits.refundStepUp(auth.projectId, auth.claims.sub);
    }
    throw err;
  }
  await limits.clearStepUp(auth.projectId, auth.claims.sub);
}
