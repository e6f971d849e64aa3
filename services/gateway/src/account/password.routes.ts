import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Accepted, NoContent, PasswordChangeBody, PasswordForgotBody, PasswordResetBody } from '@gatehouse/contracts';
import { authOf } from '../auth/authenticate.ts';
import { clientOf, type GatewayContext, markRevoked, recordAudit } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
import { mailsALink } from '../http/mail-a-link.ts';
import { projectOf } from '../projects/project-directory.ts';

const errors = errorResponses(400, 401, 403, 404, 429, 503);
/** The mailed-link routes answer no 404: an unknown address is answered like a known one. */
const { 404: _none, ...linkErrors } = errors;

/**
 * An account's password: changed by its signed-in owner, or reset through a
 * mailed link when forgotten. Either way every other session ends (identity
 * answers which, so this replica refuses them at once; the others by event).
 * Signing in with the password is sign-in/password.routes.ts.
 */
export const passwordRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { limits } = ctx;

  app.post(
    '/auth/password/change',
    {
      preHandler: ctx.requireToken,
      schema: { tags: ['account'], body: PasswordChangeBody, response: { 204: NoContent, ...errors } },
    },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      const { claims, projectId } = authOf(request);
      const bus = ctx.busFor(request);
      await bus.request('identity.password.change', {
        ...clientOf(request),
        current_password: request.body.current_password,
        new_password: request.body.new_password,
        project_id: projectId,
        user_id: claims.sub,
      });
      // Changed, whatever happens to the other sessions next.
      recordAudit(ctx, request, { type: 'password.changed', project_id: projectId, user_id: claims.sub });
      const { session_ids } = await bus.request('session.user.revoke', {
        user_id: claims.sub,
        except_session_id: claims.sid,
        reason: 'password_changed',
      });
      markRevoked(ctx, session_ids);
      return reply.code(204).send();
    },
  );

  app.post(
    '/auth/password/forgot',
    { schema: { tags: ['email'], body: PasswordForgotBody, response: { 202: Accepted, ...linkErrors } } },
    mailsALink(ctx, 'identity.password.forgot'),
  );

  app.post(
    '/auth/password/reset',
    {
      schema: { tags: ['email'], body: PasswordResetBody, response: { 204: NoContent, ...linkErrors } },
    },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      // Identity ends every session (and recent factors) before it sets the password, and
      // names the sessions it ended.
      const { user, session_ids } = await ctx.busFor(request).request('identity.password.reset', {
        ...clientOf(request),
        token: request.body.token,
        password: request.body.password,
        project_id: projectOf(request),
      });
      markRevoked(ctx, session_ids);
      recordAudit(ctx, request, {
        type: 'password.reset',
        project_id: user.project_id,
        user_id: user.id,
        data: { sessions_revoked: session_ids.length },
      });
      return reply.code(204).send();
    },
  );
};
