import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { EmptyBody, IdParams, Invitation, InvitationBody, InvitationsResponse, NoContent } from '@gatehouse/contracts';
import { requireEmail } from '@gatehouse/kit';
import { authOf } from '../auth/authenticate.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { checkedRedirect } from '../http/redirects.ts';
import { adminRoutesOf, recordAdminAction } from './admin-only.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 429, 503);

/**
 * The admin API's invitations: mail an address a link (7 days, single use)
 * that creates its account with the role chosen here (`user` when none is
 * given), list the open ones, revoke one. Accepting is public:
 * sign-in/invitation.routes.ts. Everything is of the caller's project.
 */
export const invitationRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  adminRoutesOf(app, ctx);

  app.post(
    '/admin/invitations',
    { schema: { tags: ['admin'], body: InvitationBody, response: { 201: Invitation, ...errors } } },
    async (request, reply) => {
      const { projectId, claims } = authOf(request);
      // One spelling per mailbox, so the per-address mail budget counts a mailbox once.
      const email = requireEmail(request.body.email);
      const redirectTo = checkedRedirect(request.body.redirect_to, ctx.projects.redirectsOf(projectId));
      // The budget every mailed link has: an admin token cannot flood one mailbox either.
      await ctx.limits.hitMail(projectId, email);
      const { invitation } = await ctx.busFor(request).request('identity.invitation.create', {
        project_id: projectId,
        email,
        role: request.body.role ?? 'user',
        invited_by: claims.sub,
        ...(redirectTo ? { redirect_to: redirectTo } : {}),
      });
      // The invitation's id and role: not the address (the invitation list shows it while it is open).
      recordAdminAction(ctx, request, {
        type: 'admin.invitation_created',
        data: { invitation_id: invitation.id, role: invitation.role },
      });
      return reply.code(201).send(invitation);
    },
  );

  app.get(
    '/admin/invitations',
    { schema: { tags: ['admin'], response: { 200: InvitationsResponse, ...errors } } },
    async (request) =>
      ctx.busFor(request).request('identity.invitation.list', { project_id: authOf(request).projectId }),
  );

  app.delete(
    '/admin/invitations/:id',
    {
      preValidation: optionalBody,
      schema: { tags: ['admin'], params: IdParams, body: EmptyBody, response: { 204: NoContent, ...errors } },
    },
    async (request, reply) => {
      await ctx.busFor(request).request('identity.invitation.revoke', {
        project_id: authOf(request).projectId,
        invitation_id: request.params.id,
      });
      recordAdminAction(ctx, request, { type: 'admin.invitation_revoked', data: { invitation_id: request.params.id } });
      return reply.code(204).send();
    },
  );
};
