import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Logger } from '@gatehouse/kit';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type { PoolConfig } from 'pg';
import { withDatabaseErrors } from './errors.ts';
import { createPool } from './pool.ts';
import type { Database } from './schema.ts';

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
 * Opens the identity database: a node-postgres pool (10 connections) when
 * `databaseUrl` is set, otherwise PGlite persisted under `dataDir`. Does not
 * migrate (see `migrate`); `db.destroy()` closes it. PGlite has a single
 * connection: code running inside a transaction must use the transaction
 * handle, never the returned `db`, or it waits forever.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Kysely<Database>> {
  if (options.databaseUrl) {
    const pool = createPool(options.databaseUrl, options.log, options.pool);
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  const dir = join(options.dataDir, 'pgdata');
  await mkdir(dir, { recursive: true });
  const pglite = await PGlite.create(dir);
  return new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
}

/** `SELECT 1`: resolves when the database answers; throws AppError `service_unavailable` otherwise. */
export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await withDatabaseErrors(() => sql`select 1`.execute(db));
}
