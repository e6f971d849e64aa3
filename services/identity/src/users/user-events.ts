import type { Bus, Logger } from '@gatehouse/kit';
import type { UserRow } from '../db/schema.ts';

type PlainUserEvent = 'events.user.updated' | 'events.user.deleted' | 'events.user.password_changed';

/**
 * Publishes the user events. The change is already committed when its event
 * goes out, and failing the reply then would tell the caller it did not
 * happen; so a lost event is logged, not thrown (a transactional outbox is
 * the durable fix when one is needed).
 */
export class UserEvents {
  readonly #bus: Pick<Bus, 'publish'>;
  readonly #log: Logger;

  constructor(bus: Pick<Bus, 'publish'>, log: Logger) {
    this.#bus = bus;
    this.#log = log;
  }

  /** `events.user.created`: the mailer sends the verification mail on it. */
  created(row: UserRow): Promise<void> {
    const event = { v: 1 as const, project_id: row.project_id, user_id: row.id, email: row.email, role: row.role };
    return this.#send(row, () => this.#bus.publish('events.user.created', event));
  }

  /** `events.user.updated`, `events.user.deleted` or `events.user.password_changed`. */
  changed(subject: PlainUserEvent, row: UserRow): Promise<void> {
    return this.#send(row, () => this.#bus.publish(subject, { v: 1, project_id: row.project_id, user_id: row.id }));
  }

  async #send(row: UserRow, publish: () => Promise<void>): Promise<void> {
    try {
      await publish();
    } catch (err) {
      this.#log.error({ err, userId: row.id }, 'could not publish a user event');
    }
  }
}
