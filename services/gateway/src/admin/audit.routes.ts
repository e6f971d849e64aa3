import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AuditQuery, AuditResponse } from '@gatehouse/contracts';
import { authOf } from '../auth/authenticate.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
import { adminRoutesOf } from './admin-only.ts';

const errors = errorResponses(400, 401, 403, 503);
const DEFAULT_LIMIT = 50;

/**
 * The admin API's audit log: the caller's project's events, newest first,
 * filtered by user, type and time (`since` included, `until` not), a page at
 * a time (`next_cursor`). Events reach it through the audit queue in batches:
 * one may show up a moment after the request that made it was answered.
 */
export const auditRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  adminRoutesOf(app, ctx);

  app.get(
    '/admin/audit',
    { schema: { tags: ['admin'], querystring: AuditQuery, response: { 200: AuditResponse, ...errors } } },
    async (request) => {
      const { user_id, type, since, until, limit, cursor } = request.query;
      return ctx.busFor(request).request('identity.audit.list', {
        project_id: authOf(request).projectId,
        limit: limit === undefined ? DEFAULT_LIMIT : Number(limit),
        ...(user_id !== undefined ? { user_id } : {}),
        ...(type !== undefined ? { type } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
    },
  );
};
