import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  type AccessClaims,
  EmptyBody,
  NoContent,
  SessionResponse,
  SessionsResponse,
  SessionsRevoked,
} from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import { Type } from '@sinclair/typebox';
import type { FastifyTypeProviderDefault } from 'fastify';
import { authOf, requireAuthFor } from '../auth/authenticate.ts';
import { clearCookies } from '../auth/cookies.ts';
import { type GatewayContext, markRevoked, recordAudit } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const errors = errorResponses(401, 404, 503);

/** The caller's sessions: the cheap session check, listing, logout and revocation. */
export const sessionRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  requireAuthFor(app, ctx.requireToken, ctx);

  // The hot path: answered from the verified token and the revocation set alone.
  // The body depends on the token only, so it is serialised once per token and
  // kept beside the verified claims (dropped with them).
  const bodies = new WeakMap<AccessClaims, string>();
  // That string is what the typed reply cannot express: this one route is declared without the
  // type provider (its schema still documents the body).
  app
    .withTypeProvider<FastifyTypeProviderDefault>()
    .get(
      '/auth/session',
      { schema: { tags: ['session'], response: { 200: SessionResponse, ...errors } } },
      (request, reply) => {
        const { claims } = authOf(request);
        let body = bodies.get(claims);
        if (body === undefined) {
          body = JSON.stringify({
            session: {
              id: claims.sid,
              user_id: claims.sub,
              role: claims.role,
              amr: claims.amr,
              expires_at: new Date(claims.exp * 1000).toISOString(),
            },
          });
          bodies.set(claims, body);
        }
        // A string with a JSON content type is sent as it is, not serialised again.
        return reply.type('application/json; charset=utf-8').send(body);
      },
    );

  app.post(
    '/auth/logout',
    {
      preValidation: optionalBody,
      schema: { tags: ['session'], body: EmptyBody, response: { 204: NoContent, ...errors } },
    },
    async (request, reply) => {
      const { claims, projectId } = authOf(request);
      await ctx
        .busFor(request)
        .request('session.session.revoke', { session_id: claims.sid, user_id: claims.sub, reason: 'logout' });
      markRevoked(ctx, [claims.sid]);
      recordAudit(ctx, request, {
        type: 'sign_out',
        project_id: projectId,
        user_id: claims.sub,
        data: { scope: 'session', session_id: claims.sid },
      });
      clearCookies(reply, ctx.config);
      return reply.code(204).send();
    },
  );

  app.post(
    '/auth/logout-all',
    {
      preValidation: optionalBody,
      schema: { tags: ['session'], body: EmptyBody, response: { 200: SessionsRevoked, ...errors } },
    },
    async (request, reply) => {
      const { claims, projectId } = authOf(request);
      const { session_ids } = await ctx
        .busFor(request)
        .request('session.user.revoke', { user_id: claims.sub, reason: 'logout_all' });
      markRevoked(ctx, [...session_ids, claims.sid]);
      recordAudit(ctx, request, {
        type: 'sign_out',
        project_id: projectId,
        user_id: claims.sub,
        data: { scope: 'all', sessions_revoked: session_ids.length },
      });
      clearCookies(reply, ctx.config);
      return { sessions_revoked: session_ids.length };
    },
  );

  app.get(
    '/auth/sessions',
    { schema: { tags: ['session'], response: { 200: SessionsResponse, ...errors } } },
    async (request) => {
      const { claims } = authOf(request);
      const { sessions } = await ctx.busFor(request).request('session.session.list', { user_id: claims.sub });
      return { sessions: sessions.map((s) => ({ ...s, current: s.id === claims.sid })) };
    },
  );

  app.delete(
    '/auth/sessions/:id',
    {
      preValidation: optionalBody,
      schema: {
        tags: ['session'],
        body: EmptyBody,
        params: Type.Object({ id: Type.String() }),
        response: { 204: NoContent, ...errors },
      },
    },
    async (request, reply) => {
      const { claims, projectId } = authOf(request);
      // A malformed id names no session either: the same 404 as an unknown or foreign one.
      if (!UUID.test(request.params.id)) throw new AppError('not_found', 'no such session');
      await ctx.busFor(request).request('session.session.revoke', {
        session_id: request.params.id,
        user_id: claims.sub,
        reason: 'revoked_by_user',
      });
      markRevoked(ctx, [request.params.id]);
      recordAudit(ctx, request, {
        type: 'sign_out',
        project_id: projectId,
        user_id: claims.sub,
        data: { scope: 'session', session_id: request.params.id },
      });
      return reply.code(204).send();
    },
  );
};
