import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { LoginMfaBody, TokenResponse } from '@gatehouse/contracts';
import { AppError, isAppError } from '@gatehouse/kit';
import type { GatewayContext } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
import { projectOf } from '../projects/project-directory.ts';
import { completeVerifiedSignIn, recordSignInFailure } from './complete-sign-in.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 429, 503);
/** A wrong code or passkey, or a challenge used up or gone: the refusals the audit log records. */
const REFUSALS = ['invalid_code', 'invalid_credentials', 'invalid_token'] as const;

/**
 * Completing the MfaChallenge a first factor answered: a TOTP code, a recovery
 * code, or a passkey assertion, checked by the mfa service against the
 * challenge's budget of tries.
 */
export const secondFactorSignIn: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  app.post(
    '/auth/login/mfa',
    { schema: { tags: ['mfa'], body: LoginMfaBody, response: { 200: TokenResponse, ...errors } } },
    async (request, reply) => {
      await ctx.limits.hitIp(request.ip);
      const { mfa_token, code, recovery_code, webauthn, auth_mode } = request.body;
      const given = [code, recovery_code, webauthn].filter((v) => v !== undefined).length;
      if (given !== 1) {
        throw new AppError('validation_failed', 'send exactly one of code, recovery_code or webauthn', {
          details: [{ field: 'code', message: 'exactly one of code, recovery_code, webauthn' }],
        });
      }
      const verified = await ctx
        .busFor(request)
        .request('mfa.challenge.verify', {
          mfa_token,
          ...(code !== undefined ? { code } : {}),
          ...(recovery_code !== undefined ? { recovery_code } : {}),
          ...(webauthn !== undefined ? { webauthn } : {}),
        })
        .catch((err: unknown) => {
          const reason = REFUSALS.find((c) => isAppError(err, c));
          // The mfa service does not say whose challenge it was: the event names no user.
          if (reason) {
            const factor = code !== undefined ? 'totp' : recovery_code !== undefined ? 'recovery_code' : 'passkey';
            recordSignInFailure(ctx, request, {
              projectId: projectOf(request),
              proof: { method: 'mfa', factor },
              reason,
            });
          }
          throw err;
        });
      return completeVerifiedSignIn(ctx, request, reply, verified, auth_mode);
    },
  );
};
