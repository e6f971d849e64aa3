import type { EventOf } from '@gatehouse/contracts';
import type { Bus, Logger } from '@gatehouse/kit';
import type { UserRef } from './user-ref.ts';

type Change = Pick<EventOf<'events.mfa.changed'>, 'factor' | 'change'>;

/**
 * How the rest of Gatehouse learns that a user's second factors changed:
 * identity's `mfa_enabled` flag (which makes sign-ins ask for a challenge) and
 * the `events.mfa.changed` event (audit, other listeners).
 */
export class MfaChanges {
  readonly #bus: Bus;
  readonly #log: Logger;

  constructor(bus: Bus, log: Logger) {
    this.#bus = bus;
    this.#log = log;
  }

  /**
   * Tells identity whether sign-ins of this user need a second factor. Awaited
   * before the TOTP change is answered: the caller must not believe MFA is on
   * while sign-ins still skip it. Throws what identity throws.
   */
  async setMfaEnabled(ref: UserRef, enabled: boolean, requestId?: string): Promise<void> {
    await this.#bus.request(
      'identity.user.set_mfa',
      { project_id: ref.projectId, user_id: ref.userId, mfa_enabled: enabled },
      requestId !== undefined ? { requestId } : {},
    );
  }

  /**
   * Publishes `events.mfa.changed`. The change has happened by now; a failed
   * publish is logged, not thrown, so the caller still gets its answer.
   */
  async published(ref: UserRef, change: Change, requestId?: string): Promise<void> {
    try {
      await this.#bus.publish(
        'events.mfa.changed',
        { v: 1, project_id: ref.projectId, user_id: ref.userId, ...change },
        requestId !== undefined ? { requestId } : {},
      );
    } catch (err) {
      this.#log.error({ err, userId: ref.userId, ...change }, 'could not publish events.mfa.changed');
    }
  }
}
