import type { ProjectSettings } from '@gatehouse/contracts';

/** How long a project's settings are kept before they are read again, whatever is heard. */
export const SETTINGS_CACHE_MS = 30_000;
/** Entries kept at most (one per project): past it the cache starts over. */
const MAX_ENTRIES = 10_000;

interface Entry {
  settings: Promise<ProjectSettings>;
  until: number;
}

/**
 * A project's settings as identity's own rules read them (a project's
 * `require_email_verification` in place of the instance's), kept in memory so
 * a sign-in costs no extra query. An entry is dropped on this replica's own
 * writes and on `events.project.changed` (so the other replicas follow), and
 * ages out after SETTINGS_CACHE_MS in case an event was missed (a lost bus).
 * An unknown project has no settings (`{}`): the instance's apply.
 */
export class ProjectSettingsReader {
  readonly #read: (projectId: string) => Promise<ProjectSettings | null>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(
    read: (projectId: string) => Promise<ProjectSettings | null>,
    options: { ttlMs?: number; now?: () => number } = {},
  ) {
    this.#read = read;
    this.#ttlMs = options.ttlMs ?? SETTINGS_CACHE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The project's settings. Throws `service_unavailable` when they must be read and the database is down. */
  get(projectId: string): Promise<ProjectSettings> {
    const now = this.#now();
    const known = this.#entries.get(projectId);
    if (known && known.until > now) return known.settings;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    // The promise is the entry: a drop while the read is in flight removes it, so the
    // answer read before the change is never kept (only its own callers see it).
    const settings = this.#read(projectId).then((found) => found ?? {});
    const entry: Entry = { settings, until: now + this.#ttlMs };
    this.#entries.set(projectId, entry);
    settings.catch(() => {
      if (this.#entries.get(projectId) === entry) this.#entries.delete(projectId);
    });
    return settings;
  }

  /** Forgets the project's settings (every project's without `projectId`): the next `get` reads them. */
  drop(projectId?: string): void {
    if (projectId === undefined) this.#entries.clear();
    else this.#entries.delete(projectId);
  }
}
