import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { GuestBody, GuestConvertBody, TokenResponse } from '@gatehouse/contracts';
import { AppError, isAppError } from '@gatehouse/kit';
import { authOf } from '../auth/authenticate.ts';
import { type GatewayContext, markRevoked } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { projectOf } from '../projects/project-directory.ts';
import { signIn } from './complete-sign-in.ts';

const errors = errorResponses(400, 401, 403, 409, 429, 503);

/** Guests: an account with no credentials at all, and its conversion into a password account. */
export const guestSignIn: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { limits } = ctx;

  app.post(
    '/auth/guest',
    {
      preValidation: optionalBody,
      schema: { tags: ['sign-in'], body: GuestBody, response: { 201: TokenResponse, ...errors } },
    },
    async (request, reply) => {
      ctx.projects.requireMethod(projectOf(request), 'guest');
      await limits.hitIp(request.ip);
      const { name, auth_mode } = request.body;
      const { user } = await ctx
        .busFor(request)
        .request('identity.guest.create', { project_id: projectOf(request), ...(name !== undefined ? { name } : {}) });
      return reply.code(201).send(await signIn(ctx, request, reply, user, ['guest'], auth_mode));
    },
  );

  app.post(
    '/auth/guest/convert',
    {
      preHandler: ctx.requireToken,
      schema: { tags: ['sign-in'], body: GuestConvertBody, response: { 200: TokenResponse, ...errors } },
    },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      const { claims, projectId } = authOf(request);
      if (claims.role !== 'guest') throw new AppError('forbidden', 'only a guest account can be converted');
      const { email, password, name, auth_mode } = request.body;
      const bus = ctx.busFor(request);
      const { user } = await bus.request('identity.guest.convert', {
        project_id: projectId,
        user_id: claims.sub,
        email,
        password,
        ...(name !== undefined ? { name } : {}),
      });
      // The guest session carried role `guest`: replace it with a password session.
      await bus
        .request('session.session.revoke', { session_id: claims.sid, user_id: claims.sub, reason: 'guest_converted' })
        // Signed out meanwhile (another tab): the account is converted all the same.
        .catch((err) => {
          if (!isAppError(err, 'not_found')) throw err;
        });
      markRevoked(ctx, [claims.sid]);
      return signIn(ctx, request, reply, user, ['pwd'], auth_mode);
    },
  );
};
