import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Accepted, EmailResendBody, EmailVerifyBody, User } from '@gatehouse/contracts';
import { authOf } from '../auth/authenticate.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { checkedRedirect } from '../http/redirects.ts';
import { projectOf } from '../projects/project-directory.ts';

const errors = errorResponses(400, 401, 403, 429, 503);

/** Proving an account's address: the mailed link's token, and mailing it again. */
export const emailVerificationRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { limits } = ctx;

  app.post(
    '/auth/email/verify',
    {
      schema: { tags: ['email'], body: EmailVerifyBody, response: { 200: User, ...errors } },
    },
    async (request) => {
      await limits.hitIp(request.ip);
      const { user } = await ctx
        .busFor(request)
        .request('identity.email.verify', { project_id: projectOf(request), token: request.body.token });
      return user;
    },
  );

  app.post(
    '/auth/email/resend',
    {
      preValidation: optionalBody,
      preHandler: ctx.requireAuth,
      schema: { tags: ['email'], body: EmailResendBody, response: { 202: Accepted, ...errors } },
    },
    async (request, reply) => {
      const { claims, projectId } = authOf(request);
      const redirectTo = checkedRedirect(request.body.redirect_to, ctx.projects.redirectsOf(projectId));
      await limits.hitMail(projectId, `user:${claims.sub}`);
      await ctx.busFor(request).request('identity.email.resend', {
        project_id: projectId,
        user_id: claims.sub,
        ...(redirectTo ? { redirect_to: redirectTo } : {}),
      });
      return reply.code(202).send({});
    },
  );
};
