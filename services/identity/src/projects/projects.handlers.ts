import type { Bus, Config, Logger } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { ProjectEvents } from './project-events.ts';
import { ProjectSettingsReader } from './project-settings-reader.ts';
import { ProjectsStore } from './projects.store.ts';
import { Projects } from './projects.ts';

/**
 * Serves `identity.project.*` and keeps the per-project settings identity's
 * own rules read: dropped on this replica's writes and on every
 * `events.project.changed` heard (another replica's writes; subscribed without
 * a queue group, so each replica hears each one), and all of them when the bus
 * comes back (what was published meanwhile is lost).
 */
export function serveProjects(deps: {
  bus: Bus;
  db: Kysely<Database>;
  config: Pick<Config, 'accessTokenTtl' | 'refreshTokenTtl'>;
  log: Logger;
}): { settings: ProjectSettingsReader } {
  const { bus, db, config, log } = deps;
  const store = new ProjectsStore(db);
  const settings = new ProjectSettingsReader((projectId) => store.settings(projectId));
  const events = new ProjectEvents(bus, log, (projectId) => store.directory(projectId));
  const projects = new Projects({
    store,
    limits: config,
    changed: async (projectId) => {
      settings.drop(projectId);
      await events.changed(projectId);
    },
  });
  bus.serve('identity.project.create', async (m) =>
    projects.create({ name: m.name, ...(m.settings !== undefined ? { settings: m.settings } : {}) }),
  );
  bus.serve('identity.project.list', async () => ({ projects: await projects.list() }));
  bus.serve('identity.project.update', async (m) => ({
    project: await projects.update({
      projectId: m.project_id,
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.settings !== undefined ? { settings: m.settings } : {}),
    }),
  }));
  bus.serve('identity.project.rotate_keys', async (m) => projects.rotateKeys(m.project_id));
  bus.serve('identity.project.directory', async (m) => ({ projects: await projects.directory(m.project_id) }));
  bus.subscribe('events.project.changed', (event) => settings.drop(event.project_id));
  // Events may have been missed while the bus was away: read every project again.
  bus.transport.onReconnect(() => settings.drop());
  return { settings };
}
