import type { Bus } from '@gatehouse/kit';

/**
 * What identity asks of the other services when an account changes hands (a
 * password reset, an address proven by magic link): the session service ends
 * sessions, the mfa service removes second factors. Both throw
 * `service_unavailable` when they cannot be reached.
 */
export interface AccountPeers {
  /** Ends every session of the user; the ids that ended. */
  revokeSessions(userId: string, reason: string, requestId?: string): Promise<string[]>;
  /** Removes the user's second factors added since `addedSince` (all of them for null). */
  forgetFactors(projectId: string, userId: string, addedSince: Date | null, requestId?: string): Promise<void>;
}

/** The session and mfa services, over the bus. */
export function busPeers(bus: Bus): AccountPeers {
  return {
    async revokeSessions(userId, reason, requestId) {
      const { session_ids } = await bus.request(
        'session.user.revoke',
        { user_id: userId, reason },
        requestId ? { requestId } : {},
      );
      return session_ids;
    },
    async forgetFactors(projectId, userId, addedSince, requestId) {
      await bus.request(
        'mfa.factors.forget',
        { project_id: projectId, user_id: userId, ...(addedSince ? { added_since: addedSince.toISOString() } : {}) },
        requestId ? { requestId } : {},
      );
    },
  };
}
