import type { ProjectDirectoryEntry } from '@gatehouse/contracts';
import type { Bus, Logger } from '@gatehouse/kit';

/**
 * Publishes `events.project.changed` after a project was created or changed,
 * with its directory entry: gateways apply it, identity replicas drop its settings. The write is
 * committed when the event goes out, so a lost event is logged, not thrown (as
 * the user events are: users/user-events.ts); the caches age out meanwhile.
 */
export class ProjectEvents {
  readonly #bus: Pick<Bus, 'publish'>;
  readonly #log: Logger;
  readonly #entry: (projectId: string) => Promise<ProjectDirectoryEntry[]>;

  /** `entry`: the project's directory entry as it now is (the event carries it to the gateways). */
  constructor(bus: Pick<Bus, 'publish'>, log: Logger, entry: (projectId: string) => Promise<ProjectDirectoryEntry[]>) {
    this.#bus = bus;
    this.#log = log;
    this.#entry = entry;
  }

  async changed(projectId: string): Promise<void> {
    try {
      const projects = await this.#entry(projectId);
      await this.#bus.publish('events.project.changed', { v: 1, project_id: projectId, projects });
    } catch (err) {
      this.#log.error({ err, projectId }, 'could not publish a project change');
    }
  }
}
