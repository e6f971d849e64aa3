import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  AdminSessionsResponse,
  AdminUser,
  AdminUserPatchBody,
  AdminUsersQuery,
  AdminUsersResponse,
  EmptyBody,
  IdParams,
  NoContent,
  SessionsRevoked,
} from '@gatehouse/contracts';
import type { FastifyRequest } from 'fastify';
import { authOf } from '../auth/authenticate.ts';
import { type GatewayContext, markRevoked } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { adminRoutesOf, recordAdminAction } from './admin-only.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 503);
const DEFAULT_LIMIT = 50;

/**
 * The admin API's users: search, read, change (role, ban, profile), delete,
 * and their sessions. Everything is of the caller's project. A role change, a
 * ban and a deletion end the user's sessions at once, here, after identity
 * has answered: their access tokens are refused from that answer on, on every
 * replica (the revocation event), and no refresh can re-issue the old role.
 */
export const adminUserRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  adminRoutesOf(app, ctx);

  /**
   * Ends every session of `userId` and drops them from this replica's set before answering; the
   * user's API keys are asked about again here at once (identity refuses those of a banned or
   * deleted user, and gives the new role), on the other replicas when the user event reaches them.
   */
  const endSessions = async (request: FastifyRequest, userId: string, reason: string): Promise<number> => {
    ctx.keys.dropUser(userId);
    const { session_ids } = await ctx.busFor(request).request('session.user.revoke', { user_id: userId, reason });
    markRevoked(ctx, session_ids);
    return session_ids.length;
  };
  /** Throws `not_found` unless the user is of the caller's project: the session service knows no projects. */
  const ensureUser = async (request: FastifyRequest, userId: string): Promise<void> => {
    await ctx.busFor(request).request('identity.user.get', { project_id: authOf(request).projectId, user_id: userId });
  };

  app.get(
    '/admin/users',
    { schema: { tags: ['admin'], querystring: AdminUsersQuery, response: { 200: AdminUsersResponse, ...errors } } },
    async (request) => {
      const { search, limit, cursor } = request.query;
      return ctx.busFor(request).request('identity.admin.user.list', {
        project_id: authOf(request).projectId,
        limit: limit === undefined ? DEFAULT_LIMIT : Number(limit),
        ...(search !== undefined && search.trim() !== '' ? { search } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
    },
  );

  app.get(
    '/admin/users/:id',
    { schema: { tags: ['admin'], params: IdParams, response: { 200: AdminUser, ...errors } } },
    async (request) => {
      const { user } = await ctx
        .busFor(request)
        .request('identity.user.get', { project_id: authOf(request).projectId, user_id: request.params.id });
      return user;
    },
  );

  app.patch(
    '/admin/users/:id',
    {
      schema: {
        tags: ['admin'],
        params: IdParams,
        body: AdminUserPatchBody,
        response: { 200: AdminUser, ...errors },
      },
    },
    async (request) => {
      const { role, banned, name, email_verified, metadata } = request.body;
      const { user } = await ctx.busFor(request).request('identity.admin.user.update', {
        ...(role !== undefined ? { role } : {}),
        ...(banned !== undefined ? { banned } : {}),
        ...(name !== undefined ? { name } : {}),
        ...(email_verified !== undefined ? { email_verified } : {}),
        ...(metadata !== undefined ? { metadata } : {}),
        project_id: authOf(request).projectId,
        user_id: request.params.id,
      });
      // Which fields changed, and the new role and ban: never the name or metadata given.
      const changes = (['role', 'banned', 'name', 'email_verified', 'metadata'] as const).filter(
        (field) => request.body[field] !== undefined,
      );
      recordAdminAction(ctx, request, {
        type: 'admin.user_updated',
        user_id: user.id,
        data: {
          changes,
          ...(role !== undefined ? { role } : {}),
          ...(banned !== undefined ? { banned } : {}),
        },
      });
      // Also when the stored value was already this one: a retry after a failed revocation
      // must still end the sessions, and tokens carry the role they were issued with.
      if (banned === true) await endSessions(request, user.id, 'banned');
      else if (role !== undefined) await endSessions(request, user.id, 'role_changed');
      return user;
    },
  );

  app.delete(
    '/admin/users/:id',
    {
      preValidation: optionalBody,
      schema: { tags: ['admin'], params: IdParams, body: EmptyBody, response: { 204: NoContent, ...errors } },
    },
    async (request, reply) => {
      await ctx
        .busFor(request)
        .request('identity.admin.user.delete', { project_id: authOf(request).projectId, user_id: request.params.id });
      recordAdminAction(ctx, request, { type: 'admin.user_deleted', user_id: request.params.id });
      await endSessions(request, request.params.id, 'account_deleted');
      return reply.code(204).send();
    },
  );

  app.get(
    '/admin/users/:id/sessions',
    { schema: { tags: ['admin'], params: IdParams, response: { 200: AdminSessionsResponse, ...errors } } },
    async (request) => {
      await ensureUser(request, request.params.id);
      return ctx.busFor(request).request('session.session.list', { user_id: request.params.id });
    },
  );

  app.delete(
    '/admin/users/:id/sessions',
    {
      preValidation: optionalBody,
      schema: { tags: ['admin'], params: IdParams, body: EmptyBody, response: { 200: SessionsRevoked, ...errors } },
    },
    async (request) => {
      await ensureUser(request, request.params.id);
      const sessions = await endSessions(request, request.params.id, 'revoked_by_admin');
      recordAdminAction(ctx, request, {
        type: 'admin.sessions_revoked',
        user_id: request.params.id,
        data: { sessions_revoked: sessions },
      });
      return { sessions_revoked: sessions };
    },
  );
};
