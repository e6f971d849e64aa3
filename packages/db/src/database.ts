import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, recordSpan, tracingEnabled } from '@gatehouse/kit';
import { Kysely, type LogEvent, PostgresDialect, sql } from 'kysely';
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
    return new Kysely<DB>({ dialect: new PostgresDialect({ pool }), log: traceQuery });
  }
  const dir = join(options.dataDir, 'pgdata');
  await mkdir(dir, { recursive: true });
  return new Kysely<DB>({ dialect: await embeddedDialect(dir, options.log, options.embedded), log: traceQuery });
}

/**
 * Every query as a span of the request's trace, while tracing is on (Kysely reports a query
 * once it is done: the span is recorded with its duration). The statement without its values.
 */
function traceQuery(event: LogEvent): void {
  if (!tracingEnabled()) return;
  const statement = event.query.sql;
  recordSpan(
    `pg ${statement.slice(0, statement.indexOf(' ') > 0 ? statement.indexOf(' ') : statement.length).toLowerCase()}`,
    { 'db.system.name': 'postgresql', 'db.query.text': statement.slice(0, 2048) },
    event.queryDurationMillis,
    event.level === 'error' ? event.error : undefined,
  );
}

/** `SELECT 1`: resolves when the database answers; throws AppError `service_unavailable` otherwise. */
export async function pingDatabase<DB>(db: Kysely<DB>): Promise<void> {
  await withDatabaseErrors(() => sql`select 1`.execute(db));
}
