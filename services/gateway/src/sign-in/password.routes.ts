import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { LoginBody, RegisterBody, SignInResponse, TokenResponse, type UserRecord } from '@gatehouse/contracts';
import { isAppError } from '@gatehouse/kit';
import { cookieValue, DEVICE_COOKIE, setDeviceCookie } from '../auth/cookies.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
import { checkedRedirect } from '../http/redirects.ts';
import { projectOf } from '../projects/project-directory.ts';
import { DEVICE_LIFETIME_MS } from '../rate-limit/limits.ts';
import { completeFirstFactor, recordSignInFailure, signIn } from './complete-sign-in.ts';

const errors = errorResponses(400, 401, 403, 409, 429, 503);
/** The refusals of an account (not of the service, nor of the request): what the audit log records. */
const ACCOUNT_REFUSALS = ['invalid_credentials', 'user_banned', 'email_not_verified'] as const;

/**
 * Sign-up and sign-in with an email and a password. Forgotten and changed
 * passwords are the account's business (account/password.routes.ts).
 */
export const passwordSignIn: FastifyPluginAsyncTypebox<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { limits } = ctx;

  app.post(
    '/auth/register',
    { schema: { tags: ['sign-in'], body: RegisterBody, response: { 201: TokenResponse, ...errors } } },
    async (request, reply) => {
      const projectId = projectOf(request);
      ctx.projects.requireMethod(projectId, 'password');
      await limits.hitIp(request.ip);
      const { email, password, name, metadata, auth_mode } = request.body;
      const redirectTo = checkedRedirect(request.body.redirect_to, ctx.projects.redirectsOf(projectId));
      const { user } = await ctx.busFor(request).request('identity.user.register', {
        project_id: projectId,
        email,
        password,
        ...(name !== undefined ? { name } : {}),
        ...(metadata ? { metadata } : {}),
        ...(redirectTo ? { redirect_to: redirectTo } : {}),
      });
      return reply.code(201).send(await signIn(ctx, request, reply, user, ['pwd'], auth_mode));
    },
  );

  app.post(
    '/auth/login',
    { schema: { tags: ['sign-in'], body: LoginBody, response: { 200: SignInResponse, ...errors } } },
    async (request, reply) => {
      const projectId = projectOf(request);
      ctx.projects.requireMethod(projectId, 'password');
      const { email, password, auth_mode } = request.body;
      // The attempt is claimed before the password is hashed: see beginPasswordSignIn. A device
      // cookie this account issued makes its failures count apart from strangers'.
      const attempt = await limits.beginPasswordSignIn(
        request.ip,
        projectId,
        email,
        cookieValue(request, DEVICE_COOKIE),
      );
      let user: UserRecord;
      try {
        ({ user } = await ctx
          .busFor(request)
          .request('identity.user.authenticate', { project_id: projectId, email, password }));
      } catch (err) {
        // A wrong password (or an unknown email: counted alike, so the limit reveals nothing)
        // keeps its claim as a failure; anything else (banned, unverified, 503) gives it back.
        if (!isAppError(err, 'invalid_credentials')) await limits.refundAttempt(attempt);
        const reason = ACCOUNT_REFUSALS.find((code) => isAppError(err, code));
        if (reason) {
          // The audit event names the account when there is one, never the address typed. Looked
          // up after the answer, off the request's path: a refusal takes no longer than before.
          const bus = ctx.busFor(request);
          void bus
            .request('identity.user.find', { project_id: projectId, email })
            .then(
              ({ user }) => user?.id ?? null,
              () => null,
            )
            .then((userId) =>
              recordSignInFailure(ctx, request, { projectId, userId, proof: { method: 'password' }, reason }),
            );
        }
        throw err;
      }
      const device = await limits.completeSignIn(attempt);
      const answer = await completeFirstFactor(ctx, request, reply, user, ['pwd'], auth_mode);
      // The password was right (a second factor may still follow): this browser is now a known
      // device of the account, in either auth mode.
      setDeviceCookie(reply, ctx.config, device, DEVICE_LIFETIME_MS / 1000);
      return answer;
    },
  );
};
