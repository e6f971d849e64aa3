import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { createLogger, isAppError } from '@gatehouse/kit';
import { type ColumnType, type Kysely, type Migration, sql } from 'kysely';
import { type OpenDatabaseOptions, openDatabase, pingDatabase } from './database.ts';
import { EmbeddedDatabaseUnavailable, isUnavailable, WasmRuntimeError, withDatabaseErrors } from './errors.ts';
import { runMigrations } from './migrations.ts';
import { isBrokenPglite, tooDeep } from './pglite.ts';
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

/** A table like identity's users: a jsonb column written as JSON text. */
interface DocsDb {
  docs: { id: number; metadata: ColumnType<Record<string, unknown>, string, string> };
}

const docsMigrations: Record<string, Migration> = {
  '0001_docs': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('docs')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .execute();
    },
  },
};
const docsOptions = {
  lockKey: 43,
  migrationTableName: 'docs_migration',
  migrationLockTableName: 'docs_migration_lock',
};

/** `{"a":{"a":...1...}}`, `depth` objects deep: ~9 KB at 1,500, the metadata of the attack report. */
const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
/**
 * The same value built inside the statement, so no parameter is deep and only
 * the reopen stands between it and a broken database.
 */
const builtDeep = sql<string>`(repeat('{"a":', ${1500}) || '1' || repeat('}', ${1500}))::jsonb`;

/** A logger whose lines the test reads. */
function capturedLog() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, log: createLogger({ level: 'info', service: 'test', destination }) };
}

/** A fresh embedded database with the docs table: each test's first crash is a trap (see pglite.ts). */
async function withDocs(
  run: (db: Kysely<DocsDb>, lines: string[]) => Promise<void>,
  embedded: OpenDatabaseOptions['embedded'] = {},
): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gh-db-crash-'));
  const { lines, log } = capturedLog();
  const db = await openDatabase<DocsDb>({ dataDir, log, embedded });
  try {
    await runMigrations(db, docsMigrations, docsOptions);
    await run(db, lines);
  } finally {
    await db.destroy();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const unavailable = (err: unknown) => isAppError(err, 'service_unavailable');

test('PGlite on its own: a jsonb value 1,500 levels deep traps, and the instance stays broken', async () => {
  // What the attack did. If this ever passes through, PGlite stopped crashing there.
  const pglite = await PGlite.create();
  try {
    await assert.rejects(
      pglite.query('select $1::jsonb as v', [nested(1500)]),
      (err) => err instanceof WasmRuntimeError && /memory access out of bounds/.test(err.message),
    );
    await assert.rejects(pglite.query('select 1'), (err) =>
      /memory access out of bounds|cannot drop active portal/.test(String((err as Error).message)),
    );
  } finally {
    await pglite.close().catch(() => {});
  }
});

test('a parameter nested too deep for PGlite is refused before it is sent: validation_failed, the database unharmed', async () => {
  await withDocs(async (db, lines) => {
    const sent = withDatabaseErrors(() =>
      db
        .insertInto('docs')
        .values({ id: 1, metadata: nested(1500) })
        .execute(),
    );
    await assert.rejects(sent, (err) => isAppError(err, 'validation_failed') && /nested too deeply/.test(err.message));
    // Arrays, and brackets hidden in string literals do not count.
    await assert.rejects(
      withDatabaseErrors(() =>
        db
          .insertInto('docs')
          .values({ id: 1, metadata: `${'['.repeat(129)}${']'.repeat(129)}` })
          .execute(),
      ),
      (err) => isAppError(err, 'validation_failed'),
    );
    const quoted = JSON.stringify({ a: '{'.repeat(1000), b: nested(120) });
    await db.insertInto('docs').values({ id: 2, metadata: quoted }).execute();
    await db
      .insertInto('docs')
      .values({ id: 3, metadata: nested(127) })
      .execute();
    assert.deepEqual(await db.selectFrom('docs').select('id').orderBy('id').execute(), [{ id: 2 }, { id: 3 }]);
    assert.ok(!lines.some((l) => l.includes('crashed')), 'no crash, no reopen');
  });
});

test('a statement that crashes PGlite is service_unavailable, and the next one works on the same db, data kept', async () => {
  await withDocs(async (db, lines) => {
    await db.insertInto('docs').values({ id: 1, metadata: '{"kept":true}' }).execute();

    const crash = await db
      .insertInto('docs')
      .values({ id: 2, metadata: builtDeep })
      .execute()
      .then(
        () => assert.fail('the deep value was stored'),
        (e: unknown) => e,
      );
    assert.ok(crash instanceof EmbeddedDatabaseUnavailable, String(crash));
    const trap = crash.cause;
    assert.ok(trap instanceof WasmRuntimeError, String(trap));
    assert.match(trap.message, /memory access out of bounds/);
    // Through the stores' wrapper that is an outage (503), never `internal`.
    assert.equal(isUnavailable(crash), true);
    // The very next query, on the same Kysely object, waits for the reopen and is answered.
    await pingDatabase(db);
    assert.deepEqual(await db.selectFrom('docs').selectAll().execute(), [{ id: 1, metadata: { kept: true } }]);
    await db.insertInto('docs').values({ id: 4, metadata: '{}' }).execute();
    assert.equal((await db.selectFrom('docs').select('id').execute()).length, 2);
    const crashed = lines.find((l) => l.includes('the embedded database crashed: reopening it'));
    assert.match(crashed ?? lines.join(''), /memory access out of bounds/);
    assert.ok(lines.some((l) => l.includes('the embedded database is open again')));
  });
});

test('a transaction in flight when PGlite crashes fails cleanly and leaves nothing; queued queries wait for the reopen', async () => {
  await withDocs(async (db) => {
    const inFlight = withDatabaseErrors(() =>
      db.transaction().execute(async (trx) => {
        await trx.insertInto('docs').values({ id: 1, metadata: '{}' }).execute();
        await trx.insertInto('docs').values({ id: 2, metadata: builtDeep }).execute();
      }),
    );
    // Queued behind the transaction (PGlite has one connection): they run on the reopened instance.
    const queued = [1, 2, 3].map(() => pingDatabase(db));
    await assert.rejects(inFlight, unavailable);
    await Promise.all(queued);

    assert.deepEqual(await db.selectFrom('docs').selectAll().execute(), [], 'the transaction left no row');
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('docs').values({ id: 5, metadata: '{"ok":1}' }).execute();
    });
    assert.deepEqual(await db.selectFrom('docs').select('id').execute(), [{ id: 5 }]);
  });
});

test('while the directory cannot be reopened, queries are service_unavailable, until it can', async () => {
  const create = PGlite.create;
  await withDocs(async (db, lines) => {
    try {
      PGlite.create = (async () => {
        throw new Error('disk on fire');
      }) as typeof PGlite.create;
      await assert.rejects(
        withDatabaseErrors(() => sql`select ${builtDeep}`.execute(db)),
        unavailable,
      );
      await assert.rejects(pingDatabase(db), unavailable);
      await assert.rejects(pingDatabase(db), unavailable);
    } finally {
      PGlite.create = create;
    }
    assert.ok(lines.some((l) => l.includes('could not be reopened') && l.includes('disk on fire')));
    // After the retry pause the directory is opened again.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await pingDatabase(db);
    assert.deepEqual(await db.selectFrom('docs').selectAll().execute(), []);
  });
});

test('a statement that never answers is given up after the query timeout, and the database reopened', async () => {
  const prototype = PGlite.prototype as unknown as { query: (sql: string, ...rest: unknown[]) => Promise<unknown> };
  await withDocs(
    async (db) => {
      const query = prototype.query;
      prototype.query = function (this: PGlite, text: string, ...rest: unknown[]) {
        return text.includes('hang here') ? new Promise(() => {}) : query.call(this, text, ...rest);
      };
      try {
        const start = performance.now();
        await assert.rejects(
          withDatabaseErrors(() => sql`select 'hang here'`.execute(db)),
          unavailable,
        );
        const ms = performance.now() - start;
        assert.ok(ms >= 250 && ms < 2_000, `took ${ms} ms`);
        await pingDatabase(db);
      } finally {
        prototype.query = query;
      }
    },
    { queryTimeoutMs: 300 },
  );
});

test('what counts as a broken PGlite, and as too deep', () => {
  const withCode = (code: string, message: string) => Object.assign(new Error(message), { code });
  for (const err of [
    new WasmRuntimeError('memory access out of bounds'),
    withCode('24000', 'cannot drop active portal ""'),
    withCode('53200', 'out of memory'),
  ]) {
    assert.equal(isBrokenPglite(err), true, String(err));
  }
  for (const err of [withCode('23505', 'duplicate key'), withCode('24000', 'other'), new Error('boom'), undefined]) {
    assert.equal(isBrokenPglite(err), false, String(err));
  }
  assert.equal(tooDeep(nested(129), 128), true);
  assert.equal(tooDeep(`  ${'['.repeat(129)}`, 128), true);
  assert.equal(tooDeep(nested(128), 128), false);
  assert.equal(tooDeep(JSON.stringify({ s: `"\\${'['.repeat(500)}` }), 128), false, 'brackets in a string literal');
  assert.equal(tooDeep('a name with [[[[[[ brackets'.repeat(50), 128), false, 'not JSON');
  let deep: unknown = 1;
  for (let i = 0; i < 200; i++) deep = { a: deep };
  assert.equal(tooDeep(deep, 128), true, 'an object parameter');
  assert.equal(tooDeep([1, { a: [2] }], 128), false);
  assert.equal(tooDeep(new Date(), 128), false);
  assert.equal(tooDeep(Buffer.from('[[['), 2), false);
});
