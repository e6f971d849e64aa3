import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  DEFAULT_PROJECT_ID,
  PasskeyLoginOptionsBody,
  PasskeyLoginVerifyBody,
  TokenResponse,
  WebAuthnOptions,
} from '@gatehouse/contracts';
import type { GatewayContext } from '../gateway-context.ts';
import { answerNoSoonerThan } from '../http/answer-floor.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { completeVerifiedSignIn } from './complete-sign-in.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 429, 503);

/**
 * Sign-in with a passkey alone (WebAuthn, `amr` ["webauthn"]): options for the
 * browser, then the signed assertion, which the mfa service verifies. Adding
 * and removing passkeys is second-factors/passkeys.routes.ts.
 */
export const passkeySignIn: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { limits } = ctx;
  const projectId = DEFAULT_PROJECT_ID;

  app.post(
    '/auth/passkeys/login/options',
    {
      preValidation: optionalBody,
      schema: { tags: ['passkeys'], body: PasskeyLoginOptionsBody, response: { 200: WebAuthnOptions, ...errors } },
    },
    async (request) => {
      const startedAt = performance.now();
      await limits.hitIp(request.ip);
      const bus = ctx.busFor(request);
      const { email, mfa_token } = request.body;
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
      await limits.hitIp(request.ip);
      const verified = await ctx.busFor(request).request('mfa.passkey.login_verify', {
        project_id: projectId,
        challenge_id: request.body.challenge_id,
        response: request.body.response,
      });
      return completeVerifiedSignIn(ctx, request, reply, verified, request.body.auth_mode);
    },
  );
};
