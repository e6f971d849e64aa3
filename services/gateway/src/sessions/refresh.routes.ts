import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RefreshBody, TokenResponse } from '@gatehouse/contracts';
import { AppError, isAppError } from '@gatehouse/kit';
import { checkCsrf, cookieValue, csrfCookieName, inMode, REFRESH_COOKIE } from '../auth/cookies.ts';
import { clientOf, type GatewayContext, markRevoked } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
import { projectOf } from '../projects/project-directory.ts';
import { tokenResponse } from '../sign-in/complete-sign-in.ts';

const errors = errorResponses(400, 401, 403, 409, 429, 503);

/**
 * Renewing a session: a refresh token (in the body, or in cookie mode its
 * cookie) for a fresh pair, as long as the account may still sign in.
 */
export const refreshRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  app.post(
    '/auth/refresh',
    { schema: { tags: ['sign-in'], body: RefreshBody, response: { 200: TokenResponse, ...errors } } },
    async (request, reply) => {
      await ctx.limits.hitRefresh(request.ip);
      let refreshToken = request.body.refresh_token;
      let mode = request.body.auth_mode;
      if (!refreshToken) {
        // Cookie mode: the token comes in its cookie, and the request must come from an allowed page.
        refreshToken = cookieValue(request, REFRESH_COOKIE);
        if (!refreshToken) throw new AppError('invalid_grant', 'no refresh token given');
        checkCsrf(request, ctx.origins, ctx.config);
        mode = 'cookie';
      }
      const bus = ctx.busFor(request);
      const projectId = projectOf(request);
      const tokens = await bus.request('session.session.refresh', {
        ...clientOf(request),
        ...ctx.projects.lifetimesOf(projectId),
        refresh_token: refreshToken,
        project_id: projectId,
      });
      // The account must still exist and not be banned: as this gateway's profile cache knows it
      // (exact by the user events, which a ban or a deletion sends), else as identity answers.
      const ticket = ctx.profiles.ticket();
      const user =
        ctx.profiles.get(tokens.project_id, tokens.user_id) ??
        (await bus
          .request('identity.user.get', { project_id: tokens.project_id, user_id: tokens.user_id })
          .then((r) => {
            ctx.profiles.put(tokens.project_id, tokens.user_id, r.user, ticket);
            return r.user;
          })
          .catch((err) => {
            if (isAppError(err, 'not_found')) return null;
            throw err;
          }));
      if (!user || user.banned) {
        // The account is gone or banned: this session must not live on.
        await bus
          .request('session.session.revoke', {
            session_id: tokens.session_id,
            user_id: tokens.user_id,
            reason: 'refresh_denied',
          })
          // Revoked meanwhile by another request: as gone as this one would make it.
          .catch((err) => {
            if (!isAppError(err, 'not_found')) throw err;
          });
        markRevoked(ctx, [tokens.session_id]);
        throw new AppError('invalid_grant', 'the refresh token is not valid');
      }
      // A refresh keeps the browser's CSRF token (a page holding it goes on working); a sign-in makes a new one.
      const csrf = mode === 'cookie' ? cookieValue(request, csrfCookieName(ctx.config)) : undefined;
      return inMode(reply, ctx.config, tokenResponse(tokens, user), mode, csrf);
    },
  );
};
