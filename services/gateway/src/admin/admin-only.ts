import { AppError } from '@gatehouse/kit';
import type { FastifyInstance, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { authOf, requireAuthFor } from '../auth/authenticate.ts';
import type { GatewayContext } from '../gateway-context.ts';

/**
 * The role check after the token check: a caller without a token is 401
 * `unauthorized` (from requireAuth), a signed-in caller who is not an admin
 * is 403 `forbidden`. The role is the token's: a role change or a ban ends
 * the user's sessions at once, so a token cannot outlive the role it carries.
 */
function adminOnly(request: FastifyRequest, _reply: unknown, done: HookHandlerDoneFunction): void {
  const { claims } = authOf(request);
  done(claims.role === 'admin' ? undefined : new AppError('forbidden', 'this needs an admin'));
}

/** Every route registered after this in `app`'s plugin is an admin route. */
export function adminRoutesOf(app: FastifyInstance, ctx: GatewayContext): void {
  requireAuthFor(app, ctx.requireAuth, ctx);
  app.addHook('preHandler', adminOnly);
}
