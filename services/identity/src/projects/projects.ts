import type { Project, ProjectSettings } from '@gatehouse/contracts';
import { AppError, apiKeyHash, newId, newProjectKeys } from '@gatehouse/kit';
import { checkedSettings, mergedSettings, type SettingsLimits, type SettingsPatch } from './project-settings.ts';
import { type DirectoryEntry, type ProjectsStore, toProject } from './projects.store.ts';

export interface ProjectsDeps {
  store: ProjectsStore;
  /** ACCESS_TOKEN_TTL and REFRESH_TOKEN_TTL: a project's lifetimes may not exceed them. */
  limits: SettingsLimits;
  /**
   * Told after every committed write, with the project's id: the service drops
   * its settings and publishes `events.project.changed`; the command-line tool
   * has no bus (running gateways reload on their own). Must not throw.
   */
  changed(projectId: string): Promise<void>;
}

const noSuchProject = () => new AppError('not_found', 'no such project');

/** The most a name may have, as the contract says (the command-line tool does not go through the bus's check). */
const MAX_NAME_LENGTH = 200;

/** The name as stored: trimmed, not blank, at most MAX_NAME_LENGTH characters. Throws `validation_failed`. */
function checkedName(name: string): string {
  const trimmed = name.trim();
  const problem =
    trimmed === ''
      ? 'must not be blank'
      : trimmed.length > MAX_NAME_LENGTH
        ? `must be at most ${MAX_NAME_LENGTH} characters`
        : null;
  if (problem)
    throw new AppError('validation_failed', `name ${problem}`, { details: [{ field: 'name', message: problem }] });
  return trimmed;
}

/**
 * Projects (tenants): made, listed, renamed and reconfigured, their keys
 * rotated. The caller (the gateway, the command-line tool) has checked that
 * this is the instance admin. The secret key is in the answers of `create`
 * and `rotateKeys` only and is stored as its SHA-256 (kit `apiKeyHash`).
 * Every method throws `service_unavailable` when the database is down.
 */
export class Projects {
  readonly #deps: ProjectsDeps;

  constructor(deps: ProjectsDeps) {
    this.#deps = deps;
  }

  /** Throws `validation_failed` (a blank name, or settings `checkedSettings` refuses). */
  async create(input: { name: string; settings?: ProjectSettings }): Promise<{ project: Project; secret_key: string }> {
    const name = checkedName(input.name);
    const settings = checkedSettings(input.settings ?? {}, this.#deps.limits);
    const keys = newProjectKeys();
    const row = await this.#deps.store.create({
      id: newId(),
      name,
      publishableKey: keys.publishable_key,
      secretKeyHash: apiKeyHash(keys.secret_key),
      settings,
    });
    await this.#deps.changed(row.id);
    return { project: toProject(row), secret_key: keys.secret_key };
  }

  /** Throws `not_found`. */
  async get(projectId: string): Promise<Project> {
    const row = await this.#deps.store.find(projectId);
    if (!row) throw noSuchProject();
    return toProject(row);
  }

  /** Every project, oldest first (the default project leads). */
  async list(): Promise<Project[]> {
    return (await this.#deps.store.list()).map(toProject);
  }

  /**
   * Renames the project and/or changes its settings: the keys `settings`
   * names replace the stored ones, one given as null is removed (the
   * instance's setting applies again). Throws `not_found`, `validation_failed`.
   */
  async update(input: { projectId: string; name?: string; settings?: SettingsPatch }): Promise<Project> {
    const { limits } = this.#deps;
    const name = input.name === undefined ? undefined : checkedName(input.name);
    const patch = input.settings;
    const row = await this.#deps.store.update(input.projectId, {
      ...(name !== undefined ? { name } : {}),
      ...(patch !== undefined
        ? { settings: (current: ProjectSettings) => mergedSettings(current, patch, limits) }
        : {}),
    });
    if (!row) throw noSuchProject();
    await this.#deps.changed(row.id);
    return toProject(row);
  }

  /** New publishable and secret keys in place of the old ones, which stop working with this write. Throws `not_found`. */
  async rotateKeys(projectId: string): Promise<{ publishable_key: string; secret_key: string }> {
    const keys = newProjectKeys();
    const row = await this.#deps.store.replaceKeys(projectId, {
      publishableKey: keys.publishable_key,
      secretKeyHash: apiKeyHash(keys.secret_key),
    });
    if (!row) throw noSuchProject();
    await this.#deps.changed(row.id);
    return keys;
  }

  /** What a gateway keeps: every project, or the one of `projectId` (none when there is no such project). */
  async directory(projectId?: string): Promise<DirectoryEntry[]> {
    return this.#deps.store.directory(projectId);
  }
}
