import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  IdParams,
  NoContent,
  PasskeyCreated,
  PasskeyRegisterVerifyBody,
  PasskeysResponse,
  StepUpBody,
  WebAuthnOptions,
} from '@gatehouse/contracts';
import { authOf, requireAuthFor } from '../auth/authenticate.ts';
import { requireRecentSignIn } from '../auth/step-up.ts';
import { type GatewayContext, recordAudit } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { factorChanges } from './factor-changes.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 429, 503);

/**
 * The signed-in user's passkeys: add (options, then the attestation), list,
 * remove. Signing in with one is sign-in/passkey.routes.ts.
 */
export const passkeyRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  requireAuthFor(app, ctx.requireToken, ctx);
  const { member, userOf, signOutOthers, notifyAdded } = factorChanges(ctx);

  app.post(
    '/auth/passkeys/register/options',
    {
      preValidation: optionalBody,
      schema: { tags: ['passkeys'], body: StepUpBody, response: { 200: WebAuthnOptions, ...errors } },
    },
    async (request) => {
      const auth = member(request);
      // The step-up is taken here: the registration that follows must answer these options' challenge.
      await requireRecentSignIn(ctx, request, auth, request.body);
      const user = await userOf(request, auth);
      const userName = user.email ?? user.name ?? user.id;
      const { options } = await ctx.busFor(request).request('mfa.passkey.register_options', {
        project_id: auth.projectId,
        user_id: user.id,
        user_name: userName,
        user_display_name: user.name ?? userName,
      });
      return options;
    },
  );

  app.post(
    '/auth/passkeys/register/verify',
    {
      schema: { tags: ['passkeys'], body: PasskeyRegisterVerifyBody, response: { 201: PasskeyCreated, ...errors } },
    },
    async (request, reply) => {
      const auth = member(request);
      const { passkey } = await ctx.busFor(request).request('mfa.passkey.register_verify', {
        project_id: auth.projectId,
        user_id: auth.claims.sub,
        response: request.body.response,
        ...(request.body.name !== undefined ? { name: request.body.name } : {}),
      });
      // Its id: the name is the user's text, not the log's.
      recordAudit(ctx, request, {
        type: 'passkey.added',
        project_id: auth.projectId,
        user_id: auth.claims.sub,
        data: { passkey_id: passkey.id },
      });
      await signOutOthers(request, auth, 'passkey_added');
      await notifyAdded(request, auth, 'passkey', passkey.name);
      return reply.code(201).send({ id: passkey.id, name: passkey.name, created_at: passkey.created_at });
    },
  );

  app.get(
    '/auth/passkeys',
    { schema: { tags: ['passkeys'], response: { 200: PasskeysResponse, ...errors } } },
    async (request) => {
      const { claims, projectId } = authOf(request);
      return ctx.busFor(request).request('mfa.passkey.list', { project_id: projectId, user_id: claims.sub });
    },
  );

  app.delete(
    '/auth/passkeys/:id',
    {
      preValidation: optionalBody,
      schema: { tags: ['passkeys'], body: StepUpBody, params: IdParams, response: { 204: NoContent, ...errors } },
    },
    async (request, reply) => {
      const auth = authOf(request);
      await requireRecentSignIn(ctx, request, auth, request.body);
      const user = await userOf(request, auth);
      // A linked social account is a way in too: the last passkey may go when there is one.
      const { identities } = await ctx
        .busFor(request)
        .request('identity.identity.list', { project_id: auth.projectId, user_id: user.id });
      await ctx.busFor(request).request('mfa.passkey.delete', {
        project_id: auth.projectId,
        user_id: user.id,
        passkey_id: request.params.id,
        has_password: user.has_password || identities.length > 0,
      });
      recordAudit(ctx, request, {
        type: 'passkey.removed',
        project_id: auth.projectId,
        user_id: user.id,
        data: { passkey_id: request.params.id },
      });
      await signOutOthers(request, auth, 'passkey_removed');
      return reply.code(204).send();
    },
  );
};
