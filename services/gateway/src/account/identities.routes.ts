import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  IdentitiesResponse,
  IdParams,
  LinkIdentityBody,
  LinkIdentityResponse,
  NoContent,
  ProviderParams,
  StepUpBody,
} from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import { authOf, requireAuthFor } from '../auth/authenticate.ts';
import { requireRecentSignIn } from '../auth/step-up.ts';
import { type GatewayContext, recordAudit } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { checkedRedirect } from '../http/redirects.ts';
import { projectOf } from '../projects/project-directory.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 429, 503);

/**
 * The signed-in user's linked social accounts: list, link one more (the
 * answer is a URL for the browser to open: the flow runs as a sign-in's does
 * and links instead), and unlink one unless it is the last way in.
 */
export const identityRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  requireAuthFor(app, ctx.requireToken, ctx);

  app.get(
    '/auth/identities',
    { schema: { tags: ['social'], response: { 200: IdentitiesResponse, ...errors } } },
    async (request) => {
      const { claims, projectId } = authOf(request);
      return ctx.busFor(request).request('identity.identity.list', { project_id: projectId, user_id: claims.sub });
    },
  );

  app.post(
    '/auth/identities/:provider/link',
    {
      preValidation: optionalBody,
      schema: {
        tags: ['social'],
        params: ProviderParams,
        body: LinkIdentityBody,
        response: { 200: LinkIdentityResponse, ...errors },
      },
    },
    async (request) => {
      const auth = authOf(request);
      // Guests sign in with the provider instead (a new account): linking is for members.
      if (auth.claims.role === 'guest') throw new AppError('forbidden', 'guests cannot link a provider');
      // A stolen access token must not be enough to add the thief's provider account as a way in.
      await requireRecentSignIn(ctx, request, auth, request.body);
      const redirectTo =
        checkedRedirect(request.body.redirect_to, ctx.projects.redirectsOf(projectOf(request))) ??
        `${ctx.config.publicUrl}/auth/confirm`;
      const { link_token } = await ctx.busFor(request).request('identity.oauth.link', {
        project_id: auth.projectId,
        user_id: auth.claims.sub,
        provider: request.params.provider,
        redirect_to: redirectTo,
      });
      const url = new URL(`${ctx.config.publicUrl}/auth/oauth/${request.params.provider}`);
      url.searchParams.set('link_token', link_token);
      return { url: url.toString() };
    },
  );

  app.delete(
    '/auth/identities/:id',
    {
      preValidation: optionalBody,
      schema: { tags: ['social'], params: IdParams, body: StepUpBody, response: { 204: NoContent, ...errors } },
    },
    async (request, reply) => {
      const auth = authOf(request);
      await requireRecentSignIn(ctx, request, auth, request.body);
      const bus = ctx.busFor(request);
      const ref = { project_id: auth.projectId, user_id: auth.claims.sub };
      // The mfa service knows the passkeys, which count as a way in.
      const { passkeys } = await bus.request('mfa.passkey.list', ref);
      await bus.request('identity.identity.unlink', {
        ...ref,
        identity_id: request.params.id,
        has_passkey: passkeys.length > 0,
      });
      recordAudit(ctx, request, {
        type: 'identity.unlinked',
        project_id: auth.projectId,
        user_id: auth.claims.sub,
        data: { identity_id: request.params.id },
      });
      return reply.code(204).send();
    },
  );
};
