import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PasskeyLoginOptionsBody, PasskeyLoginVerifyBody, TokenResponse, WebAuthnOptions } from '@gatehouse/contracts';
import { isAppError } from '@gatehouse/kit';
import type { GatewayContext } from '../gateway-context.ts';
import { answerNoSoonerThan } from '../http/answer-floor.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { projectOf } from '../projects/project-directory.ts';
import { completeVerifiedSignIn, recordSignInFailure } from './complete-sign-in.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 429, 503);
/** A passkey that did not verify, or a challenge gone: the refusals the audit log records. */
const PASSKEY_REFUSALS = ['invalid_credentials', 'invalid_sign_in_challenge'] as const;

/**
 * Sign-in with a passkey alone (WebAuthn, `amr` ["webauthn"]): options for the
 * browser, then the signed assertion, which the mfa service verifies. Adding
 * and removing passkeys is second-factors/passkeys.routes.ts.
 */
export const passkeySignIn: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { limits } = ctx;

  app.post(
    '/auth/passkeys/login/options',
    {
      preValidation: optionalBody,
      schema: { tags: ['passkeys'], body: PasskeyLoginOptionsBody, response: { 200: WebAuthnOptions, ...errors } },
    },
    async (request) => {
      const startedAt = performance.now();
      const projectId = projectOf(request);
      const { email, mfa_token } = request.body;
      // A passkey as the second factor of a password sign-in is not passkey sign-in.
      if (mfa_token === undefined) ctx.projects.requireMethod(projectId, 'passkey');
      await limits.hitIp(request.ip);
      const bus = ctx.busFor(request);
      let target: { user_id?: string; email_hint?: string; mfa_token?: string } = {};
      if (mfa_token !== undefined) target = { mfa_token };
      else if (email !== undefined) {
        const { user } = await bus.request('identity.user.find', { project_id: projectId, email });
        // An unknown address gets stand-in credentials: the answer looks the same.
        target = user ? { user_id: user.id } : { email_hint: email };
      }
      const { challenge_id, options } = await bus.request('mfa.passkey.login_options', {
        project_id: projectId,
        ...target,
      });
      // By email, a known user's passkeys are looked up and an unknown address's are not: both
      // answer no sooner than the floor (as `forgot` does), so the lookup cannot be timed.
      if (mfa_token === undefined && email !== undefined) await answerNoSoonerThan(startedAt);
      return { ...options, challenge_id };
    },
  );

  app.post(
    '/auth/passkeys/login/verify',
    {
      schema: { tags: ['passkeys'], body: PasskeyLoginVerifyBody, response: { 200: TokenResponse, ...errors } },
    },
    async (request, reply) => {
      const projectId = projectOf(request);
      ctx.projects.requireMethod(projectId, 'passkey');
      await limits.hitIp(request.ip);
      const verified = await ctx
        .busFor(request)
        .request('mfa.passkey.login_verify', {
          project_id: projectId,
          challenge_id: request.body.challenge_id,
          response: request.body.response,
        })
        .catch((err: unknown) => {
          // A passkey that did not verify (or a challenge gone): whose it was is not known.
          const reason = PASSKEY_REFUSALS.find((c) => isAppError(err, c));
          if (reason) recordSignInFailure(ctx, request, { projectId, proof: { method: 'passkey' }, reason });
          throw err;
        });
      return completeVerifiedSignIn(ctx, request, reply, verified, request.body.auth_mode);
    },
  );
};
