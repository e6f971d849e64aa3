import type { AuditEventType } from '@gatehouse/contracts';
import { AppError, type AuditEventInput } from '@gatehouse/kit';
import type { FastifyInstance, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { authOf, requireAuthFor } from '../auth/authenticate.ts';
import { type GatewayContext, recordAudit } from '../gateway-context.ts';

/**
 * The role check after the token check: a caller without a token is 401
 * `unauthorized` (from requireAuth), a signed-in caller who is not an admin
 * is 403 `forbidden`. The role is the token's: a role change or a ban ends
 * the user's sessions at once, so a token cannot outlive the role it carries.
 */
function adminOnly(request: FastifyRequest, _reply: unknown, done: HookHandlerDoneFunction): void {
  const { claims, secretKey } = authOf(request);
  done(secretKey || claims.role === 'admin' ? undefined : new AppError('forbidden', 'this needs an admin'));
}

/** Every route registered after this in `app`'s plugin is an admin route. */
export function adminRoutesOf(app: FastifyInstance, ctx: GatewayContext): void {
  requireAuthFor(app, ctx.requireAdminAuth, ctx);
  app.addHook('preHandler', adminOnly);
}

/**
 * Records an admin action in the audit log: in the caller's project, the
 * admin as its actor (none for a project's secret key: no user did it).
 */
export function recordAdminAction<T extends AuditEventType>(
  ctx: GatewayContext,
  request: FastifyRequest,
  event: Omit<AuditEventInput<T>, 'project_id' | 'actor_id' | 'ip' | 'user_agent' | 'at'>,
): void {
  const { projectId, claims, secretKey } = authOf(request);
  recordAudit<T>(ctx, request, { ...event, project_id: projectId, actor_id: secretKey ? null : claims.sub });
}
