import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Accepted, MagicLinkBody, MagicLinkVerifyBody, SignInResponse } from '@gatehouse/contracts';
import { type GatewayContext, markRevoked } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
import { mailsALink } from '../http/mail-a-link.ts';
import { projectOf } from '../projects/project-directory.ts';
import { completeFirstFactor } from './complete-sign-in.ts';

const errors = errorResponses(400, 401, 403, 429, 503);

/**
 * Sign-in by a link mailed to the address (identity issues the one-time token
 * and queues the mail); the first use of an address creates its account.
 */
export const magicLinkSignIn: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  app.post(
    '/auth/magic-link',
    { schema: { tags: ['email'], body: MagicLinkBody, response: { 202: Accepted, ...errors } } },
    mailsALink(ctx, 'identity.magic_link.send'),
  );

  app.post(
    '/auth/magic-link/verify',
    {
      schema: { tags: ['email'], body: MagicLinkVerifyBody, response: { 200: SignInResponse, ...errors } },
    },
    async (request, reply) => {
      ctx.projects.requireMethod(projectOf(request), 'magic_link');
      await ctx.limits.hitIp(request.ip);
      const { user, session_ids } = await ctx
        .busFor(request)
        .request('identity.magic_link.verify', { project_id: projectOf(request), token: request.body.token });
      // An address proven for the first time ended what was set up before the proof.
      markRevoked(ctx, session_ids);
      return completeFirstFactor(ctx, request, reply, user, ['magic_link'], request.body.auth_mode);
    },
  );
};
