import type { Bus } from '@gatehouse/kit';
import type { Invitations } from './invitations.ts';

/**
 * Serves `identity.invitation.create|list|revoke` (the admin API: the gateway
 * checked the caller's role) and `identity.invitation.accept` (public: the
 * token is the proof).
 */
export function registerInvitationHandlers(bus: Bus, invitations: Invitations): void {
  bus.serve('identity.invitation.create', async (m, ctx) => ({
    invitation: await invitations.create({
      projectId: m.project_id,
      email: m.email,
      role: m.role,
      invitedBy: m.invited_by,
      redirectTo: m.redirect_to,
      requestId: ctx.requestId,
    }),
  }));

  bus.serve('identity.invitation.list', async (m) => ({ invitations: await invitations.list(m.project_id) }));

  bus.serve('identity.invitation.revoke', async (m) => {
    await invitations.revoke(m.project_id, m.invitation_id);
    return {};
  });

  bus.serve('identity.invitation.accept', async (m) => ({
    user: await invitations.accept({
      projectId: m.project_id,
      token: m.token,
      password: m.password,
      ...(m.name !== undefined ? { name: m.name } : {}),
    }),
  }));
}
