import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { type Kysely, type Migration, sql } from 'kysely';
import { openDatabase } from './database.ts';
import { runMigrations } from './migrations.ts';
import { createPostgresDatabase, silentLog } from './testing.ts';

// biome-ignore lint/suspicious/noExplicitAny: migrations take Kysely<any>, as kysely documents.
type AnyDb = Kysely<any>;

/** One table; its migration is slow, so concurrent runners overlap. */
function schema(table: string): Record<string, Migration> {
  return {
    [`0001_${table}`]: {
      async up(db: AnyDb) {
        await sql`select pg_sleep(0.2)`.execute(db);
        await db.schema
          .createTable(table)
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .execute();
      },
    },
  };
}

test('replicas starting at once migrate once, and two schemas share a database with their own bookkeeping', async () => {
  const created = await createPostgresDatabase();
  const open = () => openDatabase({ databaseUrl: created.url, dataDir: tmpdir(), log: silentLog });
  const replicas = await Promise.all([open(), open(), open()]);
  try {
    const a = { lockKey: 1001, migrationTableName: 'a_migration', migrationLockTableName: 'a_migration_lock' };
    const b = { lockKey: 1002, migrationTableName: 'b_migration', migrationLockTableName: 'b_migration_lock' };
    await Promise.all([
      ...replicas.map((db) => runMigrations(db, schema('alpha'), a)),
      ...replicas.map((db) => runMigrations(db, schema('beta'), b)),
    ]);
    const db = replicas[0]!;
    const count = async (table: string) =>
      Number((await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(db)).rows[0]?.n);
    assert.equal(await count('a_migration'), 1);
    assert.equal(await count('b_migration'), 1);
    const { rows } = await sql<{ locks: string }>`
      select count(*) as locks from pg_locks where locktype = 'advisory'`.execute(db);
    assert.equal(Number(rows[0]?.locks), 0, 'every advisory lock was released');
  } finally {
    await Promise.all(replicas.map((db) => db.destroy()));
    await created.drop();
  }
});
