import {
  DEFAULT_PROJECT_ID,
  EmptyBody,
  ErrorBody,
  IdParams,
  LoginMfaBody,
  MfaCodeBody,
  MfaStatusResponse,
  PasskeyCreated,
  PasskeyLoginOptionsBody,
  PasskeyLoginVerifyBody,
  PasskeyRegisterVerifyBody,
  PasskeysResponse,
  RecoveryCodesResponse,
  StepUpBody,
  TokenResponse,
  TotpEnableBody,
  TotpSetupResponse,
  type UserRecord,
  WebAuthnOptions,
} from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { type Auth, authOf, requireAuthFor } from '../auth/authenticate.ts';
import { inMode } from '../auth/cookies.ts';
import { requireRecentSignIn } from '../auth/step-up.ts';
import { clientOf, type GatewayContext, markRevoked, signIn } from '../context.ts';
import { answerNoSoonerThan } from '../http/answer-floor.ts';
import { optionalBody } from '../http/bodies.ts';

const errors = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
  503: ErrorBody,
};
const noContent = { 204: { type: 'null' } };

/**
 * Second factors: TOTP with recovery codes, passkeys, and completing an MFA
 * challenge. The mfa service keeps the secrets and decides; these routes
 * authenticate, refuse guests, and sign out the other sessions when a factor
 * changes (whoever else holds a session got it under the old rules).
 */
export const mfaRoutes: FastifyPluginAsync<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { bus, limits } = ctx;

  /** The signed-in caller, who must not be a guest (guests cannot add factors). */
  const member = (request: FastifyRequest): Auth => {
    const auth = authOf(request);
    if (auth.claims.role === 'guest') throw new AppError('forbidden', 'guests cannot set up second factors');
    return auth;
  };
  const userOf = async (request: FastifyRequest, auth: Auth): Promise<UserRecord> =>
    (
      await bus.request(
        'identity.user.get',
        { project_id: auth.projectId, user_id: auth.claims.sub },
        { requestId: request.id },
      )
    ).user;
  /** A factor changed: every other session of the user ends now. */
  const signOutOthers = async (request: FastifyRequest, auth: Auth, reason: string) => {
    const { session_ids } = await bus.request(
      'session.user.revoke',
      { user_id: auth.claims.sub, except_session_id: auth.claims.sid, reason },
      { requestId: request.id },
    );
    markRevoked(ctx, session_ids);
  };
  /** A sign-in method was added: the user hears of it (best effort; the method is added either way). */
  const notifyAdded = async (request: FastifyRequest, auth: Auth, factor: 'totp' | 'passkey', name?: string) => {
    try {
      await bus.request(
        'identity.notice.factor_added',
        {
          ...clientOf(request),
          factor,
          ...(name !== undefined ? { name } : {}),
          project_id: auth.projectId,
          user_id: auth.claims.sub,
        },
        { requestId: request.id },
      );
    } catch (err) {
      request.log.error({ err, userId: auth.claims.sub }, 'could not send the sign-in-method notice');
    }
  };
  /** A verified second step: the account must still be allowed in. */
  const signInVerified = async (request: FastifyRequest, projectId: string, userId: string, amr: string[]) => {
    const { user } = await bus.request(
      'identity.user.get',
      { project_id: projectId, user_id: userId },
      { requestId: request.id },
    );
    if (user.banned) throw new AppError('user_banned', 'this account is banned');
    return signIn(ctx, request, user, amr);
  };

  app.post<{ Body: typeof LoginMfaBody.static }>(
    '/auth/login/mfa',
    { schema: { tags: ['mfa'], body: LoginMfaBody, response: { 200: TokenResponse, ...errors } } },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      const { mfa_token, code, recovery_code, webauthn, auth_mode } = request.body;
      const given = [code, recovery_code, webauthn].filter((v) => v !== undefined).length;
      if (given !== 1) {
        throw new AppError('validation_failed', 'send exactly one of code, recovery_code or webauthn', {
          details: [{ field: 'code', message: 'exactly one of code, recovery_code, webauthn' }],
        });
      }
      const verified = await bus.request(
        'mfa.challenge.verify',
        {
          mfa_token,
          ...(code !== undefined ? { code } : {}),
          ...(recovery_code !== undefined ? { recovery_code } : {}),
          ...(webauthn !== undefined ? { webauthn } : {}),
        },
        { requestId: request.id },
      );
      const tokens = await signInVerified(request, verified.project_id, verified.user_id, verified.amr);
      return inMode(reply, ctx.config, tokens, auth_mode);
    },
  );

  app.register(async (authed) => {
    requireAuthFor(authed, ctx.requireAuth);

    authed.get(
      '/auth/mfa',
      { schema: { tags: ['mfa'], response: { 200: MfaStatusResponse, ...errors } } },
      async (request) => {
        const { claims, projectId } = authOf(request);
        return bus.request('mfa.status.get', { project_id: projectId, user_id: claims.sub }, { requestId: request.id });
      },
    );

    authed.post(
      '/auth/mfa/totp/setup',
      {
        preValidation: optionalBody,
        schema: { tags: ['mfa'], body: EmptyBody, response: { 200: TotpSetupResponse, ...errors } },
      },
      async (request) => {
        const auth = member(request);
        const user = await userOf(request, auth);
        return bus.request(
          'mfa.totp.setup',
          { project_id: auth.projectId, user_id: user.id, account_name: user.email ?? user.name ?? user.id },
          { requestId: request.id },
        );
      },
    );

    authed.post<{ Body: typeof TotpEnableBody.static }>(
      '/auth/mfa/totp/enable',
      { schema: { tags: ['mfa'], body: TotpEnableBody, response: { 200: RecoveryCodesResponse, ...errors } } },
      async (request) => {
        const auth = member(request);
        await requireRecentSignIn(ctx, request, auth, { password: request.body.password });
        const result = await bus.request(
          'mfa.totp.enable',
          { project_id: auth.projectId, user_id: auth.claims.sub, code: request.body.code },
          { requestId: request.id },
        );
        await signOutOthers(request, auth, 'mfa_enabled');
        await notifyAdded(request, auth, 'totp');
        return result;
      },
    );

    authed.post<{ Body: typeof MfaCodeBody.static }>(
      '/auth/mfa/totp/disable',
      { schema: { tags: ['mfa'], body: MfaCodeBody, response: { ...noContent, ...errors } } },
      async (request, reply) => {
        const auth = authOf(request);
        await bus.request(
          'mfa.totp.disable',
          { project_id: auth.projectId, user_id: auth.claims.sub, code: request.body.code },
          { requestId: request.id },
        );
        await signOutOthers(request, auth, 'mfa_disabled');
        return reply.code(204).send();
      },
    );

    authed.post<{ Body: typeof MfaCodeBody.static }>(
      '/auth/mfa/recovery-codes',
      { schema: { tags: ['mfa'], body: MfaCodeBody, response: { 200: RecoveryCodesResponse, ...errors } } },
      async (request) => {
        const auth = authOf(request);
        return bus.request(
          'mfa.recovery.regenerate',
          { project_id: auth.projectId, user_id: auth.claims.sub, code: request.body.code },
          { requestId: request.id },
        );
      },
    );

    authed.post<{ Body: typeof StepUpBody.static }>(
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
        const { options } = await bus.request(
          'mfa.passkey.register_options',
          {
            project_id: auth.projectId,
            user_id: user.id,
            user_name: userName,
            user_display_name: user.name ?? userName,
          },
          { requestId: request.id },
        );
        return options;
      },
    );

    authed.post<{ Body: typeof PasskeyRegisterVerifyBody.static }>(
      '/auth/passkeys/register/verify',
      {
        config: { statusOf: { invalid_challenge: 400 } },
        schema: { tags: ['passkeys'], body: PasskeyRegisterVerifyBody, response: { 201: PasskeyCreated, ...errors } },
      },
      async (request, reply) => {
        const auth = member(request);
        const { passkey } = await bus.request(
          'mfa.passkey.register_verify',
          {
            project_id: auth.projectId,
            user_id: auth.claims.sub,
            response: request.body.response,
            ...(request.body.name !== undefined ? { name: request.body.name } : {}),
          },
          { requestId: request.id },
        );
        await signOutOthers(request, auth, 'passkey_added');
        await notifyAdded(request, auth, 'passkey', passkey.name);
        return reply.code(201).send({ id: passkey.id, name: passkey.name, created_at: passkey.created_at });
      },
    );

    authed.get(
      '/auth/passkeys',
      { schema: { tags: ['passkeys'], response: { 200: PasskeysResponse, ...errors } } },
      async (request) => {
        const { claims, projectId } = authOf(request);
        return bus.request(
          'mfa.passkey.list',
          { project_id: projectId, user_id: claims.sub },
          { requestId: request.id },
        );
      },
    );

    authed.delete<{ Params: typeof IdParams.static; Body: typeof StepUpBody.static }>(
      '/auth/passkeys/:id',
      {
        preValidation: optionalBody,
        schema: { tags: ['passkeys'], body: StepUpBody, params: IdParams, response: { ...noContent, ...errors } },
      },
      async (request, reply) => {
        const auth = authOf(request);
        await requireRecentSignIn(ctx, request, auth, request.body);
        const user = await userOf(request, auth);
        await bus.request(
          'mfa.passkey.delete',
          {
            project_id: auth.projectId,
            user_id: user.id,
            passkey_id: request.params.id,
            has_password: user.has_password,
          },
          { requestId: request.id },
        );
        await signOutOthers(request, auth, 'passkey_removed');
        return reply.code(204).send();
      },
    );
  });

  app.post<{ Body: typeof PasskeyLoginOptionsBody.static }>(
    '/auth/passkeys/login/options',
    {
      preValidation: optionalBody,
      schema: { tags: ['passkeys'], body: PasskeyLoginOptionsBody, response: { 200: WebAuthnOptions, ...errors } },
    },
    async (request) => {
      const startedAt = performance.now();
      await limits.hitIp(request.ip);
      const { email, mfa_token } = request.body;
      const projectId = DEFAULT_PROJECT_ID;
      let target: { user_id?: string; email_hint?: string; mfa_token?: string } = {};
      if (mfa_token !== undefined) target = { mfa_token };
      else if (email !== undefined) {
        const { user } = await bus.request(
          'identity.user.find',
          { project_id: projectId, email },
          { requestId: request.id },
        );
        // An unknown address gets stand-in credentials: the answer looks the same.
        target = user ? { user_id: user.id } : { email_hint: email };
      }
      const { challenge_id, options } = await bus.request(
        'mfa.passkey.login_options',
        { project_id: projectId, ...target },
        { requestId: request.id },
      );
      // By email, a known user's passkeys are looked up and an unknown address's are not: both
      // answer no sooner than the floor (as `forgot` does), so the lookup cannot be timed.
      if (mfa_token === undefined && email !== undefined) await answerNoSoonerThan(startedAt);
      return { ...options, challenge_id };
    },
  );

  app.post<{ Body: typeof PasskeyLoginVerifyBody.static }>(
    '/auth/passkeys/login/verify',
    {
      config: { statusOf: { invalid_challenge: 401 } },
      schema: { tags: ['passkeys'], body: PasskeyLoginVerifyBody, response: { 200: TokenResponse, ...errors } },
    },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      const verified = await bus.request(
        'mfa.passkey.login_verify',
        { project_id: DEFAULT_PROJECT_ID, challenge_id: request.body.challenge_id, response: request.body.response },
        { requestId: request.id },
      );
      const tokens = await signInVerified(request, verified.project_id, verified.user_id, verified.amr);
      return inMode(reply, ctx.config, tokens, request.body.auth_mode);
    },
  );
};
