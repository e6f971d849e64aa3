import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { sql } from 'kysely';
import { openDatabase, pingDatabase } from './database.ts';
import { silentLog, testDatabaseUrl } from './testing.ts';

/**
 * A TCP relay in front of the real Postgres that the test can unplug (as a
 * stopped server: connections dropped, new ones refused), freeze (as a hung
 * server: bytes swallowed) and plug back in on the same port.
 */
class Relay {
  readonly #target = new URL(testDatabaseUrl());
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  frozen = false;
  port = 0;

  async plugIn(): Promise<void> {
    this.#server = createServer((client) => {
      const upstream = connect(Number(this.#target.port || 5432), this.#target.hostname);
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.#sockets.add(from);
        from.on('data', (chunk) => this.frozen || to.write(chunk));
        from.on('error', () => to.destroy());
        from.on('close', () => {
          this.#sockets.delete(from);
          to.destroy();
        });
      }
    });
    await new Promise<void>((resolve) => this.#server?.listen(this.port, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (address && typeof address === 'object') this.port = address.port;
  }

  async unplug(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server?.close(resolve));
  }
}

const relay = new Relay();
before(() => relay.plugIn());
after(() => relay.unplug());

async function expectUnavailable(run: () => Promise<unknown>, withinMs: number): Promise<void> {
  const start = performance.now();
  await assert.rejects(run(), (err) => isAppError(err, 'service_unavailable'));
  const ms = performance.now() - start;
  assert.ok(ms < withinMs, `took ${ms} ms`);
}

test('a stopped Postgres is service_unavailable, and the pool recovers by itself when it returns', async () => {
  const url = new URL(testDatabaseUrl());
  url.host = `127.0.0.1:${relay.port}`;
  const db = await openDatabase({ databaseUrl: url.toString(), dataDir: '/nonexistent', log: silentLog });
  try {
    // Several pooled connections exist before the outage.
    await Promise.all([1, 2, 3].map(() => sql`select pg_sleep(0.05)`.execute(db)));
    await pingDatabase(db);

    await relay.unplug();
    await expectUnavailable(() => pingDatabase(db), 2_500);
    await expectUnavailable(() => pingDatabase(db), 2_500);

    await relay.plugIn();
    await pingDatabase(db);
    await Promise.all([1, 2, 3, 4].map(() => pingDatabase(db)));
  } finally {
    await db.destroy();
  }
});

test('a Postgres that stops answering mid-session is service_unavailable after the query timeout', async () => {
  const url = new URL(testDatabaseUrl());
  url.host = `127.0.0.1:${relay.port}`;
  const db = await openDatabase({
    databaseUrl: url.toString(),
    dataDir: '/nonexistent',
    log: silentLog,
    pool: { query_timeout: 800 },
  });
  try {
    await pingDatabase(db);
    relay.frozen = true;
    await expectUnavailable(() => pingDatabase(db), 3_000);
    relay.frozen = false;
    // The timed-out client was thrown away; a fresh one works.
    await pingDatabase(db);
  } finally {
    relay.frozen = false;
    await db.destroy();
  }
});
