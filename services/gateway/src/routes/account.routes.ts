import { DeleteMeBody, ErrorBody, PasswordChangeBody, PatchMeBody, User } from '@gatehouse/contracts';
import type { FastifyPluginAsync } from 'fastify';
import { authOf, requireAuthFor } from '../auth/authenticate.ts';
import { signedInRecently } from '../auth/step-up.ts';
import { clientOf, type GatewayContext, markRevoked } from '../context.ts';
import { optionalBody } from '../http/bodies.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody, 503: ErrorBody };

/** The signed-in user's own account: profile, deletion, password change. */
export const accountRoutes: FastifyPluginAsync<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { bus } = ctx;
  requireAuthFor(app, ctx.requireAuth);

  app.get('/auth/me', { schema: { tags: ['account'], response: { 200: User, ...errors } } }, async (request) => {
    const { claims, projectId } = authOf(request);
    const { user } = await bus.request(
      'identity.user.get',
      { project_id: projectId, user_id: claims.sub },
      { requestId: request.id },
    );
    return user;
  });

  app.patch<{ Body: typeof PatchMeBody.static }>(
    '/auth/me',
    { schema: { tags: ['account'], body: PatchMeBody, response: { 200: User, ...errors } } },
    async (request) => {
      const { claims, projectId } = authOf(request);
      const { name, avatar_url, metadata } = request.body;
      const { user } = await bus.request(
        'identity.user.update',
        {
          ...(name !== undefined ? { name } : {}),
          ...(avatar_url !== undefined ? { avatar_url } : {}),
          ...(metadata !== undefined ? { metadata } : {}),
          // The caller's identity comes from the verified token, and is written last.
          project_id: projectId,
          user_id: claims.sub,
        },
        { requestId: request.id },
      );
      return user;
    },
  );

  app.delete<{ Body: typeof DeleteMeBody.static }>(
    '/auth/me',
    {
      preValidation: optionalBody,
      schema: { tags: ['account'], body: DeleteMeBody, response: { 204: { type: 'null' }, ...errors } },
    },
    async (request, reply) => {
      const { claims, projectId } = authOf(request);
      const password = request.body?.password;
      await bus.request(
        'identity.user.delete',
        {
          project_id: projectId,
          user_id: claims.sub,
          ...(password !== undefined ? { password } : {}),
          // A user with no password may delete the account within minutes of signing in.
          fresh_sign_in: signedInRecently(authOf(request), ctx.config),
        },
        { requestId: request.id },
      );
      const { session_ids } = await bus.request(
        'session.user.revoke',
        { user_id: claims.sub, reason: 'account_deleted' },
        { requestId: request.id },
      );
      markRevoked(ctx, [...session_ids, claims.sid]);
      return reply.code(204).send();
    },
  );

  app.post<{ Body: typeof PasswordChangeBody.static }>(
    '/auth/password/change',
    { schema: { tags: ['account'], body: PasswordChangeBody, response: { 204: { type: 'null' }, ...errors } } },
    async (request, reply) => {
      await ctx.limits.hitIp(request.ip);
      const { claims, projectId } = authOf(request);
      await bus.request(
        'identity.password.change',
        {
          ...clientOf(request),
          current_password: request.body.current_password,
          new_password: request.body.new_password,
          project_id: projectId,
          user_id: claims.sub,
        },
        { requestId: request.id },
      );
      const { session_ids } = await bus.request(
        'session.user.revoke',
        { user_id: claims.sub, except_session_id: claims.sid, reason: 'password_changed' },
        { requestId: request.id },
      );
      markRevoked(ctx, session_ids);
      return reply.code(204).send();
    },
  );
};
