import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { InvitationAcceptBody, TokenResponse } from '@gatehouse/contracts';
import { type GatewayContext, recordAudit } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
import { projectOf } from '../projects/project-directory.ts';
import { signIn } from './complete-sign-in.ts';

const errors = errorResponses(400, 409, 429, 503);

/**
 * Sign-up by an admin's invitation (admin/invitations.routes.ts mails it):
 * the token from the link and a password create the account, with the
 * invited role and the address verified, and sign it in. A new account has
 * no second factor, so the answer is always the TokenResponse (amr `pwd`).
 */
export const invitationSignIn: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  app.post(
    '/auth/invitations/accept',
    { schema: { tags: ['sign-in'], body: InvitationAcceptBody, response: { 200: TokenResponse, ...errors } } },
    async (request, reply) => {
      // An invitation is a sign-up with a password.
      ctx.projects.requireMethod(projectOf(request), 'password');
      await ctx.limits.hitIp(request.ip);
      const { token, password, name, auth_mode } = request.body;
      const { user } = await ctx.busFor(request).request('identity.invitation.accept', {
        project_id: projectOf(request),
        token,
        password,
        ...(name !== undefined ? { name } : {}),
      });
      recordAudit(ctx, request, {
        type: 'invitation.accepted',
        project_id: user.project_id,
        user_id: user.id,
        data: user.role === 'guest' ? {} : { role: user.role },
      });
      return signIn(ctx, request, reply, user, ['pwd'], auth_mode);
    },
  );
};
