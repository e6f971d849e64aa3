import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { type Kysely, sql } from 'kysely';
import { openDatabase } from './database.ts';
import { withDatabaseErrors } from './errors.ts';
import { silentLog, testDatabaseUrl } from './testing.ts';

/** Values a client can send that the database refuses, with the SQLSTATE both engines answer. */
const REFUSED: { what: string; run: (db: Kysely<unknown>) => Promise<unknown>; state: string }[] = [
  { what: 'U+0000 in text', state: '22021', run: (db) => sql`select ${'a\u0000b'}::text`.execute(db) },
  {
    what: 'U+0000 in a jsonb string',
    state: '22P05',
    run: (db) => sql`select ${JSON.stringify({ a: 'x\u0000y' })}::jsonb`.execute(db),
  },
  {
    what: 'U+0000 in a jsonb key',
    state: '22P05',
    run: (db) => sql`select ${JSON.stringify({ 'k\u0000': 1 })}::jsonb`.execute(db),
  },
  {
    what: 'a lone surrogate in jsonb',
    state: '22P02',
    run: (db) => sql`select ${JSON.stringify({ a: 'x\ud800y' })}::jsonb`.execute(db),
  },
];

const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

for (const engine of ['Postgres', 'PGlite'] as const) {
  describe(`database errors on ${engine}`, () => {
    const open = async () => {
      if (engine === 'Postgres') {
        const db = await openDatabase({ databaseUrl: testDatabaseUrl(), dataDir: tmpdir(), log: silentLog });
        return { db, close: () => db.destroy() };
      }
      const dataDir = await mkdtemp(join(tmpdir(), 'gh-db-errors-'));
      const db = await openDatabase({ dataDir, log: silentLog });
      return {
        db,
        close: async () => {
          await db.destroy();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    };

    test('the engine refuses what it cannot store with the SQLSTATE we map, and the call answers validation_failed', async () => {
      const { db, close } = await open();
      try {
        for (const { what, run, state } of REFUSED) {
          await assert.rejects(run(db), (err) => (err as { code?: string }).code === state, what);
          await assert.rejects(
            withDatabaseErrors(() => run(db)),
            (err) => isAppError(err, 'validation_failed') && err.message.includes('cannot be stored'),
            what,
          );
        }
        // A lone surrogate in a text value is not an error: the driver writes U+FFFD in its place.
        const { rows } = await sql<{ v: string }>`select ${'x\ud800y'}::text as v`.execute(db);
        assert.equal(rows[0]?.v, 'x\ufffdy');
      } finally {
        await close();
      }
    });

    test('JSON nested absurdly deep is validation_failed too, and the database goes on answering', async () => {
      const { db, close } = await open();
      try {
        // Postgres' own stack check (54001) at this depth; PGlite refuses it before sending (it would crash).
        await assert.rejects(
          withDatabaseErrors(() => sql`select ${deep(100_000)}::jsonb`.execute(db)),
          (err) => isAppError(err, 'validation_failed') && /nested too deeply/.test(err.message),
        );
        const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
        assert.deepEqual(rows, [{ one: 1 }]);
      } finally {
        await close();
      }
    });
  });
}
