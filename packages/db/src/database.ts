import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@gatehouse/kit';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { PoolConfig } from 'pg';
import { withDatabaseErrors } from './errors.ts';
import { type EmbeddedLimits, embeddedDialect } from './pglite.ts';
import { createPool } from './pool.ts';

export interface OpenDatabaseOptions {
  /** Postgres connection string (stack mode). Without it, the embedded PGlite in `dataDir` is used. */
  databaseUrl?: string | undefined;
  /** Embedded mode: the database lives in `${dataDir}/pgdata`. */
  dataDir: string;
  log: Logger;
  /** Overrides of the pool's limits (POOL_LIMITS); tests shorten the timeouts. */
  pool?: Partial<PoolConfig>;
  /** Overrides of the embedded database's limits (EMBEDDED_LIMITS); tests shorten the timeout. */
  embedded?: Partial<EmbeddedLimits>;
}

/**
 * Opens a database: a node-postgres pool (POOL_LIMITS, 10 connections) when
 * `databaseUrl` is set, otherwise PGlite persisted under `dataDir/pgdata`.
 * Does not migrate (see `runMigrations`); `db.destroy()` closes it. PGlite has
 * a single connection: code running inside a transaction must use the
 * transaction handle, never the returned `db`, or it waits forever. When
 * PGlite crashes or hangs (see pglite.ts) the same `db` goes on working: the
 * directory is reopened behind it, and the queries caught by the crash fail
 * as `service_unavailable`. JSON nested deep enough to crash it is refused
 * before it is sent (SQLSTATE 54001, `validation_failed` in the stores).
 */
export async function openDatabase<DB>(options: OpenDatabaseOptions): Promise<Kysely<DB>> {
  if (options.databaseUrl) {
    const pool = createPool(options.databaseUrl, options.log, options.pool);
    return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  }
  const dir = join(options.dataDir, 'pgdata');
  await mkdir(dir, { recursive: true });
  return new Kysely<DB>({ dialect: await embeddedDialect(dir, options.log, options.embedded) });
}

/** `SELECT 1`: resolves when the database answers; throws AppError `service_unavailable` otherwise. */
export async function pingDatabase<DB>(db: Kysely<DB>): Promise<void> {
  await withDatabaseErrors(() => sql`select 1`.execute(db));
}
