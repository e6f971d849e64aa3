import type { Project, ProjectSettings } from '@gatehouse/contracts';
import { type Kysely, sql } from 'kysely';
import { withDatabaseErrors } from '../db/errors.ts';
import type { Database, ProjectRow } from '../db/schema.ts';

/** A project as a gateway keeps it (`identity.project.directory`): never the secret key, its hash. */
export interface DirectoryEntry {
  id: string;
  publishable_key: string;
  secret_key_hash: string | null;
  settings: ProjectSettings;
}

/** Stored settings were checked when written (project-settings.ts). */
const settingsOf = (row: Pick<ProjectRow, 'settings'>): ProjectSettings => row.settings as ProjectSettings;

export const toProject = (row: ProjectRow): Project => ({
  id: row.id,
  name: row.name,
  publishable_key: row.publishable_key,
  settings: settingsOf(row),
  created_at: new Date(row.created_at).toISOString(),
});

/**
 * The `projects` table. Every method throws `service_unavailable` when the
 * database is down; a missing project is null, never an error, here.
 */
export class ProjectsStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async create(input: {
    id: string;
    name: string;
    publishableKey: string;
    secretKeyHash: string;
    settings: ProjectSettings;
  }): Promise<ProjectRow> {
    return withDatabaseErrors(() =>
      this.#db
        .insertInto('projects')
        .values({
          id: input.id,
          name: input.name,
          publishable_key: input.publishableKey,
          secret_key_hash: input.secretKeyHash,
          settings: JSON.stringify(input.settings),
        })
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
  }

  /** Every project, oldest first (the default project leads). */
  async list(): Promise<ProjectRow[]> {
    return withDatabaseErrors(() =>
      this.#db.selectFrom('projects').selectAll().orderBy('created_at').orderBy('id').execute(),
    );
  }

  async find(id: string): Promise<ProjectRow | null> {
    const row = await withDatabaseErrors(() =>
      this.#db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row ?? null;
  }

  /** The project's settings, or null when there is no such project. */
  async settings(id: string): Promise<ProjectSettings | null> {
    const row = await withDatabaseErrors(() =>
      this.#db.selectFrom('projects').select('settings').where('id', '=', id).executeTakeFirst(),
    );
    return row ? settingsOf(row) : null;
  }

  /** Every project (or the one of `id`: none when there is no such project) as a gateway keeps it. */
  async directory(id?: string): Promise<DirectoryEntry[]> {
    const rows = await withDatabaseErrors(() => {
      let query = this.#db
        .selectFrom('projects')
        .select(['id', 'publishable_key', 'secret_key_hash', 'settings'])
        .orderBy('created_at')
        .orderBy('id');
      if (id !== undefined) query = query.where('id', '=', id);
      return query.execute();
    });
    return rows.map((row) => ({ ...row, settings: settingsOf(row) }));
  }

  /**
   * Renames the project and/or changes its settings: `settings` is given the
   * stored ones (the row locked, so two changes at once cannot lose one
   * another's keys) and returns the new ones. Null when there is no such project.
   */
  async update(
    id: string,
    changes: { name?: string; settings?: (current: ProjectSettings) => ProjectSettings },
  ): Promise<ProjectRow | null> {
    return withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        // `trx`, never `this.#db`: PGlite's one connection is held by this transaction.
        const current = await trx
          .selectFrom('projects')
          .selectAll()
          .where('id', '=', id)
          .forUpdate()
          .executeTakeFirst();
        if (!current) return null;
        const row = await trx
          .updateTable('projects')
          .set({
            ...(changes.name !== undefined ? { name: changes.name } : {}),
            ...(changes.settings !== undefined
              ? { settings: JSON.stringify(changes.settings(settingsOf(current))) }
              : {}),
            updated_at: sql`now()`,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        return row ?? null;
      }),
    );
  }

  /** Puts new keys in place of the project's (the old ones are gone with this write). Null when there is no such project. */
  async replaceKeys(id: string, keys: { publishableKey: string; secretKeyHash: string }): Promise<ProjectRow | null> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .updateTable('projects')
        .set({ publishable_key: keys.publishableKey, secret_key_hash: keys.secretKeyHash, updated_at: sql`now()` })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst(),
    );
    return row ?? null;
  }
}
