import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiKeyCreateBody, ApiKeyCreated, ApiKeysResponse, EmptyBody, IdParams, NoContent } from '@gatehouse/contracts';
import { authOf, requireAuthFor } from '../auth/authenticate.ts';
import { type GatewayContext, recordAudit } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';

const errors = errorResponses(400, 401, 403, 404, 503);

/**
 * The signed-in user's API keys: create (the key is in that answer only),
 * list, revoke. Managed with a token, never with a key (a stolen key must not
 * mint more). A revoked key is refused from the answer on: here at once, on
 * the other replicas by the event identity publishes.
 */
export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  requireAuthFor(app, ctx.requireToken, ctx);

  app.post(
    '/auth/api-keys',
    { schema: { tags: ['api-keys'], body: ApiKeyCreateBody, response: { 201: ApiKeyCreated, ...errors } } },
    async (request, reply) => {
      const { claims, projectId } = authOf(request);
      const { name, expires_in_days } = request.body;
      const { api_key, key } = await ctx.busFor(request).request('identity.api_key.create', {
        project_id: projectId,
        user_id: claims.sub,
        name,
        ...(expires_in_days !== undefined ? { expires_in_days } : {}),
      });
      // The key's id: never the key, nor its prefix (a part of it).
      recordAudit(ctx, request, {
        type: 'api_key.created',
        project_id: projectId,
        user_id: claims.sub,
        data: { key_id: api_key.id },
      });
      return reply.code(201).send({
        id: api_key.id,
        name: api_key.name,
        prefix: api_key.prefix,
        key,
        created_at: api_key.created_at,
        expires_at: api_key.expires_at,
      });
    },
  );

  app.get(
    '/auth/api-keys',
    { schema: { tags: ['api-keys'], response: { 200: ApiKeysResponse, ...errors } } },
    async (request) => {
      const { claims, projectId } = authOf(request);
      return ctx.busFor(request).request('identity.api_key.list', { project_id: projectId, user_id: claims.sub });
    },
  );

  app.delete(
    '/auth/api-keys/:id',
    {
      preValidation: optionalBody,
      schema: { tags: ['api-keys'], params: IdParams, body: EmptyBody, response: { 204: NoContent, ...errors } },
    },
    async (request, reply) => {
      const { claims, projectId } = authOf(request);
      await ctx.busFor(request).request('identity.api_key.revoke', {
        project_id: projectId,
        user_id: claims.sub,
        key_id: request.params.id,
      });
      ctx.keys.revoke([request.params.id]);
      recordAudit(ctx, request, {
        type: 'api_key.revoked',
        project_id: projectId,
        user_id: claims.sub,
        data: { key_id: request.params.id },
      });
      return reply.code(204).send();
    },
  );
};
