// The pool's size (DATABASE_POOL_SIZE) bounds the connections a process holds: with two,
// four queries of 300 ms each run in two waves, and Postgres sees two connections at most.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from './database.ts';
import { silentLog, testDatabaseUrl } from './testing.ts';

test('a pool of two runs four slow queries two at a time, on two connections', async () => {
  const db = await openDatabase({
    databaseUrl: testDatabaseUrl(),
    dataDir: '/nonexistent',
    log: silentLog,
    pool: { max: 2 },
  });
  try {
    const started = Date.now();
    const pids = await Promise.all(
      Array.from({ length: 4 }, () =>
        sql<{ pid: number }>`select pg_backend_pid() as pid, pg_sleep(0.3)`.execute(db).then((r) => r.rows[0]?.pid),
      ),
    );
    const took = Date.now() - started;
    assert.ok(took >= 550, `two waves of 300 ms: ${took} ms`);
    assert.equal(new Set(pids).size, 2, `two connections: ${pids.join(', ')}`);
  } finally {
    await db.destroy();
  }
});
