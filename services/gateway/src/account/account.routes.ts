import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DeleteMeBody, NoContent, PatchMeBody, User } from '@gatehouse/contracts';
import { authOf, refuseApiKey, requireAuthFor } from '../auth/authenticate.ts';
import { signedInRecently } from '../auth/step-up.ts';
import { type GatewayContext, markRevoked, recordAudit } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';

const errors = errorResponses(400, 401, 403, 404, 429, 503);

/** The signed-in user's own account: read, update, delete. */
export const accountRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  requireAuthFor(app, ctx.requireAuth, ctx);

  app.get('/auth/me', { schema: { tags: ['account'], response: { 200: User, ...errors } } }, async (request) => {
    const { claims, projectId } = authOf(request);
    // Served from this gateway's memory while no event said the user changed (profile-cache.ts).
    const cached = ctx.profiles.get(projectId, claims.sub);
    if (cached) return cached;
    const ticket = ctx.profiles.ticket();
    const { user } = await ctx
      .busFor(request)
      .request('identity.user.get', { project_id: projectId, user_id: claims.sub });
    ctx.profiles.put(projectId, claims.sub, user, ticket);
    // The route's serializer writes the User's fields only, none of the record's others.
    return user;
  });

  app.patch(
    '/auth/me',
    { schema: { tags: ['account'], body: PatchMeBody, response: { 200: User, ...errors } } },
    async (request) => {
      const { claims, projectId } = authOf(request);
      const { name, avatar_url, metadata } = request.body;
      const { user } = await ctx.busFor(request).request('identity.user.update', {
        ...(name !== undefined ? { name } : {}),
        ...(avatar_url !== undefined ? { avatar_url } : {}),
        ...(metadata !== undefined ? { metadata } : {}),
        // The caller's identity comes from the verified token, and is written last.
        project_id: projectId,
        user_id: claims.sub,
      });
      // Its event drops it too; this replica need not wait for it.
      ctx.profiles.dropUser(claims.sub);
      return user;
    },
  );

  app.delete(
    '/auth/me',
    {
      preValidation: optionalBody,
      schema: { tags: ['account'], body: DeleteMeBody, response: { 204: NoContent, ...errors } },
    },
    async (request, reply) => {
      const auth = authOf(request);
      refuseApiKey(auth);
      const { claims, projectId } = auth;
      const bus = ctx.busFor(request);
      const password = request.body.password;
      await bus.request('identity.user.delete', {
        project_id: projectId,
        user_id: claims.sub,
        ...(password !== undefined ? { password } : {}),
        // A user with no password may delete the account within minutes of signing in.
        fresh_sign_in: signedInRecently(auth, ctx.config),
      });
      recordAudit(ctx, request, { type: 'account.deleted', project_id: projectId, user_id: claims.sub });
      const { session_ids } = await bus.request('session.user.revoke', {
        user_id: claims.sub,
        reason: 'account_deleted',
      });
      markRevoked(ctx, [...session_ids, claims.sid]);
      ctx.keys.dropUser(claims.sub);
      ctx.profiles.dropUser(claims.sub);
      return reply.code(204).send();
    },
  );
};
