import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DEFAULT_PROJECT_ID, InvitationAcceptBody, TokenResponse } from '@gatehouse/contracts';
import type { GatewayContext } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
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
      await ctx.limits.hitIp(request.ip);
      const { token, password, name, auth_mode } = request.body;
      const { user } = await ctx.busFor(request).request('identity.invitation.accept', {
        project_id: DEFAULT_PROJECT_ID,
        token,
        password,
        ...(name !== undefined ? { name } : {}),
      });
      return signIn(ctx, request, reply, user, ['pwd'], auth_mode);
    },
  );
};
