import type { Bus, Logger } from '@gatehouse/kit';

/**
 * Publishes `events.project.changed` after a project was created or changed:
 * gateways reload it, identity replicas drop its settings. The write is
 * committed when the event goes out, so a lost event is logged, not thrown (as
 * the user events are: users/user-events.ts); the caches age out meanwhile.
 */
export class ProjectEvents {
  readonly #bus: Pick<Bus, 'publish'>;
  readonly #log: Logger;

  constructor(bus: Pick<Bus, 'publish'>, log: Logger) {
    this.#bus = bus;
    this.#log = log;
  }

  async changed(projectId: string): Promise<void> {
    try {
      await this.#bus.publish('events.project.changed', { v: 1, project_id: projectId });
    } catch (err) {
      this.#log.error({ err, projectId }, 'could not publish a project change');
    }
  }
}
