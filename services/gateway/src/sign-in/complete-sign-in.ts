/**
 * The last step of every sign-in, whatever its method: a session for the user,
 * answered as the contract's TokenResponse (in the caller's auth mode), or,
 * after a first factor, the MfaChallenge when the user has a second one.
 */
import type { AuditData, AuthMode, ErrorCode, MfaChallenge, TokenResponse, UserRecord } from '@gatehouse/contracts';
import { AppError, isAppError, metrics } from '@gatehouse/kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { inMode } from '../auth/cookies.ts';
import { clientOf, type GatewayContext, recordAudit } from '../gateway-context.ts';

type SignInProof = Pick<AuditData, 'method' | 'factor'>;

/** The first factor each `amr` value names, as the audit log calls it. */
const FIRST_FACTORS: Record<string, SignInProof['method']> = {
  pwd: 'password',
  magic_link: 'magic_link',
  oauth: 'oauth',
  guest: 'guest',
  webauthn: 'passkey',
};
/** The second factor each `amr` value a second factor adds names (mfa's SECOND_FACTOR_AMR). */
const SECOND_FACTORS: Record<string, SignInProof['factor']> = {
  otp: 'totp',
  recovery_code: 'recovery_code',
  webauthn: 'passkey',
};

/**
 * How a session's `amr` was proven, for the audit log: the first factor's
 * method, or `mfa` and the factor when a second one completed it.
 */
export function signInProofOf(amr: readonly string[]): SignInProof {
  const [first, second] = amr;
  const factor = second === undefined ? undefined : SECOND_FACTORS[second];
  if (factor) return { method: 'mfa', factor };
  const method = first === undefined ? undefined : FIRST_FACTORS[first];
  return method ? { method } : {};
}

/** A sign-in refused with `reason`: recorded in the audit log (with the user when it is known). */
export function recordSignInFailure(
  ctx: GatewayContext,
  request: FastifyRequest,
  failure: { projectId: string; userId?: string | null; proof: SignInProof; reason: ErrorCode },
): void {
  metrics.signIns.inc({ method: failure.proof.method ?? 'unknown', outcome: failure.reason });
  recordAudit(ctx, request, {
    type: 'sign_in.failed',
    project_id: failure.projectId,
    user_id: failure.userId ?? null,
    data: { ...failure.proof, reason: failure.reason },
  });
}

/** Opens a session for `user` and shapes the contract's TokenResponse (token mode; see `inMode`). */
export async function openSession(
  ctx: GatewayContext,
  request: FastifyRequest,
  user: UserRecord,
  amr: string[],
): Promise<TokenResponse> {
  const tokens = await ctx.busFor(request).request('session.session.create', {
    ...clientOf(request),
    ...ctx.projects.lifetimesOf(user.project_id),
    amr,
    role: user.role,
    project_id: user.project_id,
    user_id: user.id,
  });
  // Every method's sign-in (and sign-up) ends here, once its session exists. The user's session
  // set changed: their profile is read afresh at the next GET /auth/me on this replica.
  ctx.profiles.dropUser(user.id);
  const proof = signInProofOf(amr);
  metrics.signIns.inc({ method: proof.method ?? 'unknown', outcome: 'success' });
  recordAudit(ctx, request, {
    type: 'sign_in.succeeded',
    project_id: user.project_id,
    user_id: user.id,
    data: proof,
  });
  return tokenResponse(tokens, user);
}

/** A session for `user`, answered in `mode` (cookie mode sets the cookies). */
export async function signIn(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  user: UserRecord,
  amr: string[],
  mode: AuthMode | undefined,
): Promise<TokenResponse> {
  return inMode(reply, ctx.config, await openSession(ctx, request, user, amr), mode);
}

/**
 * A first factor succeeded (password, magic link): tokens, or, for a user with
 * TOTP on, the MfaChallenge to complete with POST /auth/login/mfa.
 */
export async function completeFirstFactor(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  user: UserRecord,
  amr: string[],
  mode: AuthMode | undefined,
): Promise<TokenResponse | MfaChallenge> {
  if (user.mfa_enabled) {
    try {
      const { mfa_token, methods } = await ctx
        .busFor(request)
        .request('mfa.challenge.create', { project_id: user.project_id, user_id: user.id, amr });
      return { mfa_required: true, mfa_token, methods };
    } catch (err) {
      // The mfa service, which owns the factors, says TOTP is off (the flag in identity
      // lags behind a change that failed half-way): the first factor is all there is.
      if (!isAppError(err, 'invalid_challenge')) throw err;
      request.log.warn({ userId: user.id }, 'mfa_enabled is set but the user has no TOTP');
    }
  }
  return signIn(ctx, request, reply, user, amr, mode);
}

/**
 * A sign-in whose proof the mfa service checked (a second factor, a passkey):
 * the account must still be allowed in when the session is opened.
 */
export async function completeVerifiedSignIn(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  verified: { project_id: string; user_id: string; amr: string[] },
  mode: AuthMode | undefined,
): Promise<TokenResponse> {
  const { user } = await ctx
    .busFor(request)
    .request('identity.user.get', { project_id: verified.project_id, user_id: verified.user_id });
  if (user.banned) {
    recordSignInFailure(ctx, request, {
      projectId: user.project_id,
      userId: user.id,
      proof: signInProofOf(verified.amr),
      reason: 'user_banned',
    });
    throw new AppError('user_banned', 'this account is banned');
  }
  return signIn(ctx, request, reply, user, verified.amr, mode);
}

export function tokenResponse(
  tokens: { access_token: string; expires_in: number; refresh_token: string },
  user: UserRecord,
): TokenResponse {
  return {
    access_token: tokens.access_token,
    token_type: 'Bearer',
    expires_in: tokens.expires_in,
    refresh_token: tokens.refresh_token,
    user,
  };
}
