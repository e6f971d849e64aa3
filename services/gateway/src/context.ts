import type { TokenResponse, UserRecord } from '@gatehouse/contracts';
import { type Bus, type Config, isAppError } from '@gatehouse/kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequireAuth } from './auth/authenticate.ts';
import { type AuthMode, inMode } from './auth/cookies.ts';
import type { RevocationSet } from './auth/revocations.ts';
import type { AllowedPrefix } from './http/redirects.ts';
import type { SignInLimits } from './rate-limit/limits.ts';

/** What every route plugin of the gateway is given. */
export interface GatewayContext {
  bus: Bus;
  config: Config;
  revocations: RevocationSet;
  limits: SignInLimits;
  requireAuth: RequireAuth;
  /** Origins whose pages may use cookie mode (CSRF check). */
  origins: ReadonlySet<string>;
  /** REDIRECT_ALLOWLIST, parsed: where emailed links may lead. */
  redirects: readonly AllowedPrefix[];
}

/** Where a request came from, as a session records it. */
export function clientOf(request: FastifyRequest): { ip: string; user_agent?: string } {
  const ua = request.headers['user-agent'];
  return { ip: request.ip.slice(0, 64), ...(ua ? { user_agent: ua.slice(0, 512) } : {}) };
}

/** Opens a session for `user` and shapes the contract's TokenResponse. */
export async function signIn(
  ctx: GatewayContext,
  request: FastifyRequest,
  user: UserRecord,
  amr: string[],
): Promise<TokenResponse> {
  const tokens = await ctx.bus.request(
    'session.session.create',
    { ...clientOf(request), amr, role: user.role, project_id: user.project_id, user_id: user.id },
    { requestId: request.id },
  );
  return tokenResponse(tokens, user);
}

/** The contract's MfaChallenge. */
export interface MfaChallenge {
  mfa_required: true;
  mfa_token: string;
  methods: string[];
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
  mode: AuthMode,
): Promise<TokenResponse | MfaChallenge> {
  if (user.mfa_enabled) {
    try {
      const { mfa_token, methods } = await ctx.bus.request(
        'mfa.challenge.create',
        { project_id: user.project_id, user_id: user.id, amr },
        { requestId: request.id },
      );
      return { mfa_required: true, mfa_token, methods };
    } catch (err) {
      // The mfa service, which owns the factors, says TOTP is off (the flag in identity
      // lags behind a change that failed half-way): the first factor is all there is.
      if (!isAppError(err, 'invalid_challenge')) throw err;
      request.log.warn({ userId: user.id }, 'mfa_enabled is set but the user has no TOTP');
    }
  }
  return inMode(reply, ctx.config, await signIn(ctx, request, user, amr), mode);
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

/** Revokes sessions and drops them from this replica's set at once (the event reaches the others). */
export function markRevoked(ctx: GatewayContext, sessionIds: string[]): void {
  const until = Date.now() + (ctx.config.accessTokenTtl + 60) * 1000;
  for (const id of sessionIds) ctx.revocations.add(id, until);
}
