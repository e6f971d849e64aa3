import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, type Migration, Migrator, type MigratorProps, sql } from 'kysely';
import { withDatabaseErrors } from './errors.ts';

export interface RunMigrationsOptions extends Omit<MigratorProps, 'db' | 'provider'> {
  /**
   * The Postgres advisory lock (a 32-bit integer) that serialises this schema's
   * migrations. Each schema sharing a database needs its own key, and its own
   * `migrationTableName` and `migrationLockTableName`.
   */
  lockKey: number;
}

/**
 * Brings a schema to its latest migration. `migrations` is the whole list, in
 * order, kept in code (no folder scanning) so every run mode applies exactly
 * the same list; never edit an applied migration, add the next one.
 *
 * Safe when several replicas start at once: a session-level advisory lock,
 * held on one connection for the whole run, makes the others wait and then
 * find nothing to do (kysely's own lock does not cover creating its
 * bookkeeping tables). The lock is polled with `pg_try_advisory_lock` rather
 * than awaited, so no statement waits long enough to hit the pool's statement
 * and query timeouts. On PGlite (a single connection) holding that one
 * connection also keeps every statement on the handle we hold.
 *
 * Throws the first failing migration's error, or AppError `service_unavailable`.
 */
export async function runMigrations<DB>(
  db: Kysely<DB>,
  migrations: Record<string, Migration>,
  options: RunMigrationsOptions,
): Promise<void> {
  const { lockKey, ...migratorOptions } = options;
  const provider = { getMigrations: async () => migrations };
  await withDatabaseErrors(() =>
    db.connection().execute(async (conn) => {
      for (;;) {
        const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${lockKey}) as locked`.execute(
          conn,
        );
        if (rows[0]?.locked) break;
        await sleep(100);
      }
      try {
        const { error } = await new Migrator({ ...migratorOptions, db: conn, provider }).migrateToLatest();
        if (error) throw error;
      } finally {
        await sql`select pg_advisory_unlock(${lockKey})`.execute(conn);
      }
    }),
  );
}
