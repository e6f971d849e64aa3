import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Logger } from '@gatehouse/kit';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type { PoolConfig } from 'pg';
import { withDatabaseErrors } from './errors.ts';
import { createPool } from './pool.ts';

export interface OpenDatabaseOptions {
  /** Postgres connection string (stack mode). Without it, the embedded PGlite in `dataDir` is used. */
  databaseUrl?: string | undefined;
  /** Embedded mode: the database lives in `${dataDir}/pgdata`. */
  dataDir: string;
  log: Logger;
  /** Overrides of the pool's limits (POOL_LIMITS); tests shorten the timeouts. */
  pool?: Partial<PoolConfig>;
}

/**
 * Opens a database: a node-postgres pool (POOL_LIMITS, 10 connections) when
 * `databaseUrl` is set, otherwise PGlite persisted under `dataDir/pgdata`.
 * Does not migrate (see `runMigrations`); `db.destroy()` closes it. PGlite has
 * a single connection: code running inside a transaction must use the
 * transaction handle, never the returned `db`, or it waits forever.
 */
export async function openDatabase<DB>(options: OpenDatabaseOptions): Promise<Kysely<DB>> {
  if (options.databaseUrl) {
    const pool = createPool(options.databaseUrl, options.log, options.pool);
    return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  }
  const dir = join(options.dataDir, 'pgdata');
  await mkdir(dir, { recursive: true });
  const pglite = await PGlite.create(dir);
  return new Kysely<DB>({ dialect: new PGliteDialect(pglite) });
}

/** `SELECT 1`: resolves when the database answers; throws AppError `service_unavailable` otherwise. */
export async function pingDatabase<DB>(db: Kysely<DB>): Promise<void> {
  await withDatabaseErrors(() => sql`select 1`.execute(db));
}
