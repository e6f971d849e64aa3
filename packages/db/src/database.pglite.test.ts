import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Kysely, type Migration, sql } from 'kysely';
import { openDatabase, pingDatabase } from './database.ts';
import { runMigrations } from './migrations.ts';
import { silentLog } from './testing.ts';

interface NotesDb {
  notes: { id: number; body: string };
}

// biome-ignore lint/suspicious/noExplicitAny: migrations take Kysely<any>, as kysely documents.
type AnyDb = Kysely<any>;

const migrations: Record<string, Migration> = {
  '0001_notes': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('notes')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('body', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

const options = { lockKey: 42, migrationTableName: 'notes_migration', migrationLockTableName: 'notes_migration_lock' };

test('embedded mode keeps its data in DATA_DIR/pgdata across restarts, and migrating again is a no-op', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gh-db-persist-'));
  try {
    const first = await openDatabase<NotesDb>({ dataDir, log: silentLog });
    await runMigrations(first, migrations, options);
    await first.insertInto('notes').values({ id: 1, body: 'kept' }).execute();
    await first.destroy();
    assert.ok(existsSync(join(dataDir, 'pgdata', 'PG_VERSION')));

    const second = await openDatabase<NotesDb>({ dataDir, log: silentLog });
    try {
      await runMigrations(second, migrations, options);
      await pingDatabase(second);
      assert.deepEqual(await second.selectFrom('notes').selectAll().execute(), [{ id: 1, body: 'kept' }]);
      // The bookkeeping went to the tables named in the options, not kysely's defaults.
      const { rows } = await sql<{ table_name: string }>`
        select table_name from information_schema.tables
        where table_schema = 'public' order by table_name`.execute(second);
      assert.deepEqual(
        rows.map((r) => r.table_name),
        ['notes', 'notes_migration', 'notes_migration_lock'],
      );
    } finally {
      await second.destroy();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a failing migration rejects with its own error', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gh-db-fail-'));
  const db = await openDatabase<NotesDb>({ dataDir, log: silentLog });
  try {
    const broken: Record<string, Migration> = {
      '0001_broken': {
        async up() {
          throw new Error('broken migration');
        },
      },
    };
    await assert.rejects(runMigrations(db, broken, options), /broken migration/);
    // The advisory lock was released: a good list runs afterwards on the same database.
    await runMigrations(db, migrations, { ...options, migrationTableName: 'other_migration' });
  } finally {
    await db.destroy();
    await rm(dataDir, { recursive: true, force: true });
  }
});
