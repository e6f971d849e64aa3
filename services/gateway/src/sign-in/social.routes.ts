import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  OAuthCallbackQuery,
  OAuthExchangeBody,
  OAuthStartQuery,
  ProviderParams,
  ProvidersResponse,
  SignInResponse,
} from '@gatehouse/contracts';
import { isAppError } from '@gatehouse/kit';
import { cookieValue, OAUTH_BINDING_COOKIE, oauthBinding } from '../auth/cookies.ts';
import { clientOf, type GatewayContext, markRevoked, recordAudit } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
import { checkedRedirect } from '../http/redirects.ts';
import { projectOf } from '../projects/project-directory.ts';
import { completeFirstFactor, signIn } from './complete-sign-in.ts';

const errors = errorResponses(400, 403, 404, 429, 503);

/** A social sign-in's `amr`: RFC 8176 has no value for a federated sign-in. */
export const SOCIAL_AMR = ['oauth'];

/** `target` with `params` added to its query (its own query kept). */
function withParams(target: string, params: Record<string, string>): string {
  const url = new URL(target);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

/**
 * Sign-in with a social provider (identity runs the protocol with
 * oauth4webapi and keeps the flow): the redirect to the provider, its
 * callback, and the exchange of the one-time code for tokens. After the
 * callback every outcome is a redirect to the app's `redirect_to`, failures
 * with `?error=`; only a callback with no usable state (nothing safe to
 * redirect to) is answered here, with 400 `invalid_state`.
 */
export const socialSignIn: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  /**
   * Where a flow lands when the app names no `redirect_to`: the confirm page, which trades the
   * code (naming the project, when it is not the default one, so that the trade happens there).
   */
  const confirmPageOf = (publishableKey: string | undefined) =>
    publishableKey
      ? `${ctx.config.publicUrl}/auth/confirm?project=${encodeURIComponent(publishableKey)}`
      : `${ctx.config.publicUrl}/auth/confirm`;

  app.get(
    '/auth/providers',
    { schema: { tags: ['social'], response: { 200: ProvidersResponse, ...errorResponses(503) } } },
    async (request) => {
      const projectId = projectOf(request);
      // A project that turned social sign-in off offers no provider.
      if (ctx.projects.settingsOf(projectId).sign_in_methods?.includes('oauth') === false) return { providers: [] };
      return ctx.busFor(request).request('identity.oauth.providers', { project_id: projectId });
    },
  );

  app.get(
    '/auth/oauth/:provider',
    {
      schema: {
        tags: ['social'],
        params: ProviderParams,
        querystring: OAuthStartQuery,
        response: { 302: { description: 'to the provider' }, ...errors },
      },
    },
    async (request, reply) => {
      // A browser's navigation sends no X-API-Key: the start URL may name the project itself.
      const projectId = request.query.project
        ? (ctx.projects.named(request.query.project)?.id ?? projectOf(request))
        : projectOf(request);
      ctx.projects.requireMethod(projectId, 'oauth');
      await ctx.limits.hitIp(request.ip);
      const redirectTo =
        checkedRedirect(request.query.redirect_to, ctx.projects.redirectsOf(projectId)) ??
        confirmPageOf(ctx.projects.publishableKeyOf(projectId));
      const binding = oauthBinding(request, reply, ctx.config);
      const { url } = await ctx.busFor(request).request('identity.oauth.start', {
        project_id: projectId,
        provider: request.params.provider,
        redirect_to: redirectTo,
        binding,
        ...(request.query.auth_mode ? { auth_mode: request.query.auth_mode } : {}),
        ...(request.query.link_token ? { link_token: request.query.link_token } : {}),
      });
      return reply.header('cache-control', 'no-store').redirect(url, 302);
    },
  );

  app.get(
    '/auth/oauth/:provider/callback',
    {
      schema: {
        tags: ['social'],
        params: ProviderParams,
        querystring: OAuthCallbackQuery,
        response: { 302: { description: 'to redirect_to, with ?code=, ?linked= or ?error=' }, ...errors },
      },
    },
    async (request, reply) => {
      await ctx.limits.hitIp(request.ip);
      const params = Object.fromEntries(
        Object.entries(request.query).filter((e): e is [string, string] => typeof e[1] === 'string'),
      );
      // The provider's redirect names no project: the flow's own is used.
      const result = await ctx.busFor(request).request('identity.oauth.callback', {
        provider: request.params.provider,
        binding: cookieValue(request, OAUTH_BINDING_COOKIE) ?? '',
        params,
        ...clientOf(request),
      });
      markRevoked(ctx, result.session_ids);
      const { outcome } = result;
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
      if (outcome.status === 'code') return reply.redirect(withParams(result.redirect_to, { code: outcome.code }), 302);
      if (outcome.status === 'linked') {
        recordAudit(ctx, request, {
          type: 'identity.linked',
          project_id: outcome.project_id,
          user_id: outcome.user_id,
          data: { provider: outcome.provider },
        });
        return reply.redirect(withParams(result.redirect_to, { linked: outcome.provider }), 302);
      }
      if (outcome.status === 'failed') {
        return reply.redirect(withParams(result.redirect_to, { error: outcome.error }), 302);
      }
      // Cookie mode, no second factor: the session's cookies go with the redirect.
      try {
        await signIn(ctx, request, reply, outcome.user, SOCIAL_AMR, 'cookie');
      } catch (err) {
        if (!isAppError(err, 'service_unavailable')) throw err;
        request.log.warn({ err }, 'a social sign-in could not open its session');
        return reply.redirect(withParams(result.redirect_to, { error: 'service_unavailable' }), 302);
      }
      return reply.redirect(result.redirect_to, 302);
    },
  );

  app.post(
    '/auth/oauth/exchange',
    { schema: { tags: ['social'], body: OAuthExchangeBody, response: { 200: SignInResponse, ...errors } } },
    async (request, reply) => {
      const projectId = projectOf(request);
      ctx.projects.requireMethod(projectId, 'oauth');
      await ctx.limits.hitIp(request.ip);
      const { user } = await ctx
        .busFor(request)
        .request('identity.oauth.exchange', { project_id: projectId, code: request.body.code });
      return completeFirstFactor(ctx, request, reply, user, SOCIAL_AMR, request.body.auth_mode);
    },
  );
};
