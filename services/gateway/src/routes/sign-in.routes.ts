import {
  DEFAULT_PROJECT_ID,
  ErrorBody,
  GuestBody,
  GuestConvertBody,
  LoginBody,
  RefreshBody,
  RegisterBody,
  SignInResponse,
  TokenResponse,
  type UserRecord,
} from '@gatehouse/contracts';
import { AppError, isAppError } from '@gatehouse/kit';
import type { FastifyPluginAsync } from 'fastify';
import { authOf } from '../auth/authenticate.ts';
import { checkCsrf, cookieValue, DEVICE_COOKIE, inMode, REFRESH_COOKIE, setDeviceCookie } from '../auth/cookies.ts';
import { clientOf, completeFirstFactor, type GatewayContext, markRevoked, signIn, tokenResponse } from '../context.ts';
import { optionalBody } from '../http/bodies.ts';
import { checkedRedirect } from '../http/redirects.ts';
import { DEVICE_LIFETIME_MS } from '../rate-limit/limits.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody, 429: ErrorBody, 503: ErrorBody };

/** Sign-up and sign-in: register, login, refresh, guest and guest conversion. */
export const signInRoutes: FastifyPluginAsync<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { bus, limits } = ctx;
  const projectId = DEFAULT_PROJECT_ID;

  app.post<{ Body: typeof RegisterBody.static }>(
    '/auth/register',
    {
      schema: { tags: ['sign-in'], body: RegisterBody, response: { 201: TokenResponse, ...errors } },
    },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      const { email, password, name, metadata } = request.body;
      const redirectTo = checkedRedirect(request.body.redirect_to, ctx.redirects);
      const { user } = await bus.request(
        'identity.user.register',
        {
          project_id: projectId,
          email,
          password,
          ...(name !== undefined ? { name } : {}),
          ...(metadata ? { metadata } : {}),
          ...(redirectTo ? { redirect_to: redirectTo } : {}),
        },
        { requestId: request.id },
      );
      return reply
        .code(201)
        .send(inMode(reply, ctx.config, await signIn(ctx, request, user, ['pwd']), request.body.auth_mode));
    },
  );

  app.post<{ Body: typeof LoginBody.static }>(
    '/auth/login',
    { schema: { tags: ['sign-in'], body: LoginBody, response: { 200: SignInResponse, ...errors } } },
    async (request, reply) => {
      const { email, password } = request.body;
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
        ({ user } = await bus.request(
          'identity.user.authenticate',
          { project_id: projectId, email, password },
          { requestId: request.id },
        ));
      } catch (err) {
        // A wrong password (or an unknown email: counted alike, so the limit reveals nothing)
        // keeps its claim as a failure; anything else (banned, unverified, 503) gives it back.
        if (!isAppError(err, 'invalid_credentials')) await limits.refundAttempt(attempt);
        throw err;
      }
      const device = await limits.completeSignIn(attempt);
      const answer = await completeFirstFactor(ctx, request, reply, user, ['pwd'], request.body.auth_mode);
      // The password was right (a second factor may still follow): this browser is now a known
      // device of the account, in either auth mode.
      setDeviceCookie(reply, ctx.config, device, DEVICE_LIFETIME_MS / 1000);
      return answer;
    },
  );

  app.post<{ Body: typeof RefreshBody.static }>(
    '/auth/refresh',
    { schema: { tags: ['sign-in'], body: RefreshBody, response: { 200: TokenResponse, ...errors } } },
    async (request, reply) => {
      await limits.hitRefresh(request.ip);
      let refreshToken = request.body.refresh_token;
      let mode = request.body.auth_mode;
      if (!refreshToken) {
        // Cookie mode: the token comes in its cookie, and the request must come from an allowed page.
        refreshToken = cookieValue(request, REFRESH_COOKIE);
        if (!refreshToken) throw new AppError('invalid_grant', 'no refresh token given');
        checkCsrf(request, ctx.origins);
        mode = 'cookie';
      }
      const tokens = await bus.request(
        'session.session.refresh',
        { ...clientOf(request), refresh_token: refreshToken },
        { requestId: request.id },
      );
      const user = await bus
        .request(
          'identity.user.get',
          { project_id: tokens.project_id, user_id: tokens.user_id },
          { requestId: request.id },
        )
        .then((r) => r.user)
        .catch((err) => {
          if (isAppError(err, 'not_found')) return null;
          throw err;
        });
      if (!user || user.banned) {
        // The account is gone or banned: this session must not live on.
        await bus.request(
          'session.session.revoke',
          { session_id: tokens.session_id, reason: 'refresh_denied' },
          { requestId: request.id },
        );
        markRevoked(ctx, [tokens.session_id]);
        throw new AppError('invalid_grant', 'the refresh token is not valid');
      }
      return inMode(reply, ctx.config, tokenResponse(tokens, user), mode);
    },
  );

  app.post<{ Body: typeof GuestBody.static }>(
    '/auth/guest',
    {
      preValidation: optionalBody,
      schema: { tags: ['sign-in'], body: GuestBody, response: { 201: TokenResponse, ...errors } },
    },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      const name = request.body?.name;
      const { user } = await bus.request(
        'identity.guest.create',
        { project_id: projectId, ...(name !== undefined ? { name } : {}) },
        { requestId: request.id },
      );
      return reply
        .code(201)
        .send(inMode(reply, ctx.config, await signIn(ctx, request, user, ['guest']), request.body.auth_mode));
    },
  );

  app.post<{ Body: typeof GuestConvertBody.static }>(
    '/auth/guest/convert',
    {
      preHandler: ctx.requireAuth,
      schema: { tags: ['sign-in'], body: GuestConvertBody, response: { 200: TokenResponse, ...errors } },
    },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      const { claims } = authOf(request);
      if (claims.role !== 'guest') throw new AppError('forbidden', 'only a guest account can be converted');
      const { email, password, name } = request.body;
      const { user } = await bus.request(
        'identity.guest.convert',
        { project_id: projectId, user_id: claims.sub, email, password, ...(name !== undefined ? { name } : {}) },
        { requestId: request.id },
      );
      // The guest session carried role `guest`: replace it with a password session.
      await bus.request(
        'session.session.revoke',
        { session_id: claims.sid, reason: 'guest_converted' },
        { requestId: request.id },
      );
      markRevoked(ctx, [claims.sid]);
      return inMode(reply, ctx.config, await signIn(ctx, request, user, ['pwd']), request.body.auth_mode);
    },
  );
};
