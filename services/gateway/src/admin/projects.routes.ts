import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  DEFAULT_PROJECT_ID,
  EmptyBody,
  IdParams,
  Project,
  ProjectCreateBody,
  ProjectCreated,
  ProjectKeys,
  ProjectPatchBody,
  ProjectsResponse,
} from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import type { FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { authOf } from '../auth/authenticate.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { adminRoutesOf } from './admin-only.ts';

const errors = errorResponses(400, 401, 403, 404, 503);

/**
 * After the admin check: only the instance admin manages projects, that is a
 * signed-in admin of the default project. An admin of another project, a user
 * API key (even an admin's) and a project's secret key are 403 `forbidden`.
 */
function instanceAdminOnly(request: FastifyRequest, _reply: unknown, done: HookHandlerDoneFunction): void {
  const { claims, projectId, apiKeyId, secretKey } = authOf(request);
  const instanceAdmin = claims.role === 'admin' && projectId === DEFAULT_PROJECT_ID && apiKeyId === null && !secretKey;
  done(
    instanceAdmin
      ? undefined
      : new AppError('forbidden', 'this needs the instance admin: an admin of the default project, signed in'),
  );
}

/**
 * The instance admin's projects (tenants): create one (its secret key is in
 * that answer only), list them, rename or reconfigure one, rotate its keys.
 * identity checks the settings and publishes `events.project.changed` on every
 * write, on which every gateway (this one too) reloads the project: an old
 * secret key stops working as soon as the event is heard.
 */
export const adminProjectRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  adminRoutesOf(app, ctx);
  app.addHook('preHandler', instanceAdminOnly);

  /** This replica knows the change before it answers (the others hear `events.project.changed`). */
  const reload = async (request: FastifyRequest, projectId: string): Promise<void> => {
    const { projects } = await ctx.busFor(request).request('identity.project.directory', { project_id: projectId });
    for (const entry of projects) ctx.projects.put(entry);
  };

  app.post(
    '/admin/projects',
    { schema: { tags: ['admin'], body: ProjectCreateBody, response: { 201: ProjectCreated, ...errors } } },
    async (request, reply) => {
      const { name, settings } = request.body;
      const { project, secret_key } = await ctx
        .busFor(request)
        .request('identity.project.create', { name, ...(settings !== undefined ? { settings } : {}) });
      await reload(request, project.id);
      return reply.code(201).send({ ...project, secret_key });
    },
  );

  app.get(
    '/admin/projects',
    { schema: { tags: ['admin'], response: { 200: ProjectsResponse, ...errors } } },
    async (request) => ctx.busFor(request).request('identity.project.list', {}),
  );

  app.patch(
    '/admin/projects/:id',
    {
      schema: { tags: ['admin'], params: IdParams, body: ProjectPatchBody, response: { 200: Project, ...errors } },
    },
    async (request) => {
      const { name, settings } = request.body;
      const { project } = await ctx.busFor(request).request('identity.project.update', {
        project_id: request.params.id,
        ...(name !== undefined ? { name } : {}),
        ...(settings !== undefined ? { settings } : {}),
      });
      await reload(request, project.id);
      return project;
    },
  );

  app.post(
    '/admin/projects/:id/keys/rotate',
    {
      preValidation: optionalBody,
      schema: { tags: ['admin'], params: IdParams, body: EmptyBody, response: { 200: ProjectKeys, ...errors } },
    },
    async (request) => {
      const keys = await ctx.busFor(request).request('identity.project.rotate_keys', { project_id: request.params.id });
      // The old secret key stops working here before the answer, on the other replicas with the event.
      await reload(request, request.params.id);
      return keys;
    },
  );
};
