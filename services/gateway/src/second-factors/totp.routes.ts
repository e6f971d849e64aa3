import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  EmptyBody,
  MfaCodeBody,
  MfaStatusResponse,
  NoContent,
  RecoveryCodesResponse,
  TotpEnableBody,
  TotpSetupResponse,
} from '@gatehouse/contracts';
import { authOf, requireAuthFor } from '../auth/authenticate.ts';
import { requireRecentSignIn } from '../auth/step-up.ts';
import { type GatewayContext, recordAudit } from '../gateway-context.ts';
import { optionalBody } from '../http/bodies.ts';
import { errorResponses } from '../http/error-responses.ts';
import { factorChanges } from './factor-changes.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 429, 503);

/** The signed-in user's second factors at a glance, and TOTP with its recovery codes. */
export const totpRoutes: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  requireAuthFor(app, ctx.requireToken, ctx);
  const { member, userOf, signOutOthers, notifyAdded } = factorChanges(ctx);

  app.get(
    '/auth/mfa',
    { schema: { tags: ['mfa'], response: { 200: MfaStatusResponse, ...errors } } },
    async (request) => {
      const { claims, projectId } = authOf(request);
      return ctx.busFor(request).request('mfa.status.get', { project_id: projectId, user_id: claims.sub });
    },
  );

  app.post(
    '/auth/mfa/totp/setup',
    {
      preValidation: optionalBody,
      schema: { tags: ['mfa'], body: EmptyBody, response: { 200: TotpSetupResponse, ...errors } },
    },
    async (request) => {
      const auth = member(request);
      const user = await userOf(request, auth);
      return ctx.busFor(request).request('mfa.totp.setup', {
        project_id: auth.projectId,
        user_id: user.id,
        account_name: user.email ?? user.name ?? user.id,
      });
    },
  );

  app.post(
    '/auth/mfa/totp/enable',
    { schema: { tags: ['mfa'], body: TotpEnableBody, response: { 200: RecoveryCodesResponse, ...errors } } },
    async (request) => {
      const auth = member(request);
      await requireRecentSignIn(ctx, request, auth, { password: request.body.password });
      const result = await ctx
        .busFor(request)
        .request('mfa.totp.enable', { project_id: auth.projectId, user_id: auth.claims.sub, code: request.body.code });
      recordAudit(ctx, request, { type: 'mfa.totp_enabled', project_id: auth.projectId, user_id: auth.claims.sub });
      await signOutOthers(request, auth, 'mfa_enabled');
      await notifyAdded(request, auth, 'totp');
      return result;
    },
  );

  app.post(
    '/auth/mfa/totp/disable',
    { schema: { tags: ['mfa'], body: MfaCodeBody, response: { 204: NoContent, ...errors } } },
    async (request, reply) => {
      const auth = authOf(request);
      await ctx
        .busFor(request)
        .request('mfa.totp.disable', { project_id: auth.projectId, user_id: auth.claims.sub, code: request.body.code });
      recordAudit(ctx, request, { type: 'mfa.totp_disabled', project_id: auth.projectId, user_id: auth.claims.sub });
      await signOutOthers(request, auth, 'mfa_disabled');
      return reply.code(204).send();
    },
  );

  app.post(
    '/auth/mfa/recovery-codes',
    { schema: { tags: ['mfa'], body: MfaCodeBody, response: { 200: RecoveryCodesResponse, ...errors } } },
    async (request) => {
      const auth = authOf(request);
      const codes = await ctx.busFor(request).request('mfa.recovery.regenerate', {
        project_id: auth.projectId,
        user_id: auth.claims.sub,
        code: request.body.code,
      });
      recordAudit(ctx, request, {
        type: 'mfa.recovery_regenerated',
        project_id: auth.projectId,
        user_id: auth.claims.sub,
      });
      return codes;
    },
  );
};
