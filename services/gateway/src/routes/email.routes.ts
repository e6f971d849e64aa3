import { setTimeout as sleep } from 'node:timers/promises';
import {
  Accepted,
  DEFAULT_PROJECT_ID,
  EmailResendBody,
  EmailVerifyBody,
  ErrorBody,
  MagicLinkBody,
  MagicLinkVerifyBody,
  PasswordForgotBody,
  PasswordResetBody,
  SignInResponse,
  User,
} from '@gatehouse/contracts';
import { requireEmail } from '@gatehouse/kit';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { authOf } from '../auth/authenticate.ts';
import { clientOf, completeFirstFactor, type GatewayContext, markRevoked } from '../context.ts';
import { optionalBody } from '../http/bodies.ts';
import { checkedRedirect } from '../http/redirects.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody };
/** A bad, used or expired link is a bad request (400), not a bad credential. */
const oneTimeToken = { statusOf: { invalid_token: 400 } };

/**
 * `forgot` and `magic-link` answer no sooner than this after they arrive, so
 * the few milliseconds that issuing and queueing a mail take (for a known
 * address only, in `forgot`) do not tell which addresses have accounts.
 */
const ANSWER_FLOOR_MS = 250;

async function answerNoSoonerThan(startedAt: number): Promise<void> {
  const wait = startedAt + ANSWER_FLOOR_MS - performance.now();
  if (wait > 0) await sleep(wait);
}

/**
 * The emailed flows: verifying an address, resetting a forgotten password,
 * and signing in by magic link. Identity issues the one-time tokens and
 * queues the mail; these routes check input, limits and redirects.
 */
export const emailRoutes: FastifyPluginAsync<{ ctx: GatewayContext }> = async (app, { ctx }) => {
  const { bus, limits } = ctx;
  const projectId = DEFAULT_PROJECT_ID;

  app.post<{ Body: typeof EmailVerifyBody.static }>(
    '/auth/email/verify',
    {
      config: oneTimeToken,
      schema: { tags: ['email'], body: EmailVerifyBody, response: { 200: User, ...errors } },
    },
    async (request) => {
      await limits.hitIp(request.ip);
      const { user } = await bus.request(
        'identity.email.verify',
        { project_id: projectId, token: request.body.token },
        { requestId: request.id },
      );
      return user;
    },
  );

  app.post<{ Body: typeof EmailResendBody.static }>(
    '/auth/email/resend',
    {
      preValidation: optionalBody,
      preHandler: ctx.requireAuth,
      schema: { tags: ['email'], body: EmailResendBody, response: { 202: Accepted, ...errors } },
    },
    async (request, reply) => {
      const { claims, projectId: project } = authOf(request);
      const redirectTo = checkedRedirect(request.body.redirect_to, ctx.redirects);
      await limits.hitMail(project, `user:${claims.sub}`);
      await bus.request(
        'identity.email.resend',
        { project_id: project, user_id: claims.sub, ...(redirectTo ? { redirect_to: redirectTo } : {}) },
        { requestId: request.id },
      );
      return reply.code(202).send({});
    },
  );

  /**
   * `forgot` and `magic-link`: the same answer (202 {}) for every address, no
   * sooner than the floor, after the per-IP and per-address limits.
   */
  const mailsALink =
    (subject: 'identity.password.forgot' | 'identity.magic_link.send') =>
    async (request: FastifyRequest<{ Body: typeof PasswordForgotBody.static }>, reply: FastifyReply) => {
      const startedAt = performance.now();
      // One spelling per mailbox (NFC, lower case, one form of the domain), so one budget per mailbox;
      // an address no mail library would deliver to exactly one mailbox is 400 here.
      const email = requireEmail(request.body.email);
      const redirectTo = checkedRedirect(request.body.redirect_to, ctx.redirects);
      await limits.hitIp(request.ip);
      await limits.hitMail(projectId, email);
      await bus.request(
        subject,
        { project_id: projectId, email, ...(redirectTo ? { redirect_to: redirectTo } : {}) },
        { requestId: request.id },
      );
      await answerNoSoonerThan(startedAt);
      return reply.code(202).send({});
    };

  app.post<{ Body: typeof PasswordForgotBody.static }>(
    '/auth/password/forgot',
    { schema: { tags: ['email'], body: PasswordForgotBody, response: { 202: Accepted, ...errors } } },
    mailsALink('identity.password.forgot'),
  );

  app.post<{ Body: typeof PasswordResetBody.static }>(
    '/auth/password/reset',
    {
      config: oneTimeToken,
      schema: { tags: ['email'], body: PasswordResetBody, response: { 204: { type: 'null' }, ...errors } },
    },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      // Identity ends every session (and recent factors) before it sets the password, and
      // names the sessions it ended: this replica refuses them at once, the others by event.
      const { session_ids } = await bus.request(
        'identity.password.reset',
        {
          ...clientOf(request),
          token: request.body.token,
          password: request.body.password,
          project_id: projectId,
        },
        { requestId: request.id },
      );
      markRevoked(ctx, session_ids);
      return reply.code(204).send();
    },
  );

  app.post<{ Body: typeof MagicLinkBody.static }>(
    '/auth/magic-link',
    { schema: { tags: ['email'], body: MagicLinkBody, response: { 202: Accepted, ...errors } } },
    mailsALink('identity.magic_link.send'),
  );

  app.post<{ Body: typeof MagicLinkVerifyBody.static }>(
    '/auth/magic-link/verify',
    {
      config: oneTimeToken,
      schema: { tags: ['email'], body: MagicLinkVerifyBody, response: { 200: SignInResponse, ...errors } },
    },
    async (request, reply) => {
      await limits.hitIp(request.ip);
      const { user, session_ids } = await bus.request(
        'identity.magic_link.verify',
        { project_id: projectId, token: request.body.token },
        { requestId: request.id },
      );
      // An address proven for the first time ended what was set up before the proof.
      markRevoked(ctx, session_ids);
      return completeFirstFactor(ctx, request, reply, user, ['magic_link'], request.body.auth_mode);
    },
  );
};
