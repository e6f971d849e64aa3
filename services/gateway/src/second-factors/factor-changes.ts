import type { UserRecord } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import type { FastifyRequest } from 'fastify';
import { type Auth, authOf } from '../auth/authenticate.ts';
import { clientOf, type GatewayContext, markRevoked } from '../gateway-context.ts';

/**
 * What every change to a user's second factors shares: the mfa service keeps
 * the secrets and decides; the gateway authenticates, refuses guests, and
 * signs out the other sessions when a factor changes (whoever else holds a
 * session got it under the old rules).
 */
export function factorChanges(ctx: GatewayContext) {
  return {
    /** The signed-in caller, who must not be a guest (guests cannot add factors). */
    member(request: FastifyRequest): Auth {
      const auth = authOf(request);
      if (auth.claims.role === 'guest') throw new AppError('forbidden', 'guests cannot set up second factors');
      return auth;
    },

    async userOf(request: FastifyRequest, auth: Auth): Promise<UserRecord> {
      const { user } = await ctx
        .busFor(request)
        .request('identity.user.get', { project_id: auth.projectId, user_id: auth.claims.sub });
      return user;
    },

    /** A factor changed: every other session of the user ends now. */
    async signOutOthers(request: FastifyRequest, auth: Auth, reason: string): Promise<void> {
      const { session_ids } = await ctx
        .busFor(request)
        .request('session.user.revoke', { user_id: auth.claims.sub, except_session_id: auth.claims.sid, reason });
      markRevoked(ctx, session_ids);
    },

    /** A sign-in method was added: the user hears of it (best effort; the method is added either way). */
    async notifyAdded(request: FastifyRequest, auth: Auth, factor: 'totp' | 'passkey', name?: string): Promise<void> {
      try {
        await ctx.busFor(request).request('identity.notice.factor_added', {
          ...clientOf(request),
          factor,
          ...(name !== undefined ? { name } : {}),
          project_id: auth.projectId,
          user_id: auth.claims.sub,
        });
      } catch (err) {
        request.log.error({ err, userId: auth.claims.sub }, 'could not send the sign-in-method notice');
      }
    },
  };
}
