// Test support only (`@gatehouse/db/testing`, imported by *.test.ts files, never by a service).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { openDatabase } from './database.ts';

/** A migrated database for one test file, and how to throw it away. */
export interface TestDatabase<DB> {
  db: Kysely<DB>;
  /** Set for real Postgres: the URL of the throwaway database. */
  url?: string;
  drop(): Promise<void>;
}

/** Brings a freshly opened database to its schema (a service's `migrate`). */
export type Migrate<DB> = (db: Kysely<DB>) => Promise<void>;

/** A logger that writes nothing. */
export const silentLog: Logger = createLogger({ service: 'test', level: 'silent' });

/** The server the integration tests use (`TEST_DATABASE_URL`). */
export const testDatabaseUrl = (): string =>
  process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one statement on the maintenance database of TEST_DATABASE_URL. */
async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database `gh_test_<random>` on the real Postgres, unmigrated. */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `gh_test_${randomBytes(6).toString('hex')}`;
  await admin(`create database ${name}`);
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}

/** A throwaway database on the real Postgres, brought up by `migrate`. */
export async function openPostgresTestDatabase<DB>(migrate: Migrate<DB>): Promise<TestDatabase<DB>> {
  const created = await createPostgresDatabase();
  const db = await openDatabase<DB>({ databaseUrl: created.url, dataDir: tmpdir(), log: silentLog });
  await migrate(db);
  return {
    db,
    url: created.url,
    drop: async () => {
      await db.destroy();
      await created.drop();
    },
  };
}

/** A PGlite database in a temporary directory, brought up by `migrate`. */
export async function openPgliteTestDatabase<DB>(migrate: Migrate<DB>): Promise<TestDatabase<DB>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gh-db-'));
  const db = await openDatabase<DB>({ dataDir, log: silentLog });
  await migrate(db);
  return {
    db,
    drop: async () => {
      await db.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
