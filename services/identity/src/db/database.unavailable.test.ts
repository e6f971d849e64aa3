import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P } from '@gatehouse/contracts';
import { AppError, Bus, InProcessTransport, loadConfig } from '@gatehouse/kit';
import { CHEAP_HASH } from '../app.test-support.ts';
import { MemoryFlowStore, startIdentity } from '../app.ts';
import { openDatabase } from './database.ts';
import { discardMail, noAuditEvents, silentLog } from './test-databases.ts';

/** Identity over a database URL that does not work; the bus waits far longer than the pool may. */
async function identityAt(databaseUrl: string) {
  const db = await openDatabase({ databaseUrl, dataDir: '/nonexistent', log: silentLog });
  const bus = new Bus(new InProcessTransport(), silentLog, { timeoutMs: 30_000 });
  const service = await startIdentity({
    bus,
    db,
    config: loadConfig({ PASSWORD_HASH: CHEAP_HASH }),
    mail: discardMail,
    audit: noAuditEvents,
    flows: new MemoryFlowStore(),
    log: silentLog,
  });
  return {
    bus,
    close: async () => {
      await service.close();
      await bus.transport.close();
      await db.destroy();
    },
  };
}

/** Resolves with the error `run` rejects with and how long that took. */
async function failure(run: () => Promise<unknown>): Promise<{ err: AppError; ms: number }> {
  const start = performance.now();
  const err = await run().then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AppError, `an AppError, got ${String(err)}`);
  return { err, ms: performance.now() - start };
}

/** No SQL, no driver wording, no addresses: the reply says only that the database is unavailable. */
function assertClean(err: AppError): void {
  assert.equal(err.code, 'service_unavailable');
  assert.doesNotMatch(err.message, /ECONN|select|timeout exceeded|127\.0\.0\.1|terminated|pg/i);
}

describe('identity with its database down', () => {
  test('a refused connection is service_unavailable at once, for health and for sign-in', async () => {
    const identity = await identityAt('postgres://postgres@127.0.0.1:1/postgres');
    try {
      const health = await failure(() => identity.bus.request('identity.health.check', {}));
      assertClean(health.err);
      assert.ok(health.ms < 1_500, `took ${health.ms} ms`);
      const signIn = await failure(() =>
        identity.bus.request('identity.user.authenticate', { project_id: P, email: 'a@b.test', password: 'whatever1' }),
      );
      assertClean(signIn.err);
    } finally {
      await identity.close();
    }
  });

  describe('a server that accepts connections and never answers', () => {
    let silent: Server;
    const held: Socket[] = [];
    before(async () => {
      silent = createServer((socket) => held.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    });
    after(async () => {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    test('is service_unavailable after the 2 s connection timeout, not a hang', async () => {
      const address = silent.address();
      assert.ok(address && typeof address === 'object');
      const identity = await identityAt(`postgres://postgres@127.0.0.1:${address.port}/postgres`);
      try {
        const health = await failure(() => identity.bus.request('identity.health.check', {}));
        assertClean(health.err);
        assert.ok(health.ms >= 1_500 && health.ms < 4_000, `took ${health.ms} ms`);
      } finally {
        await identity.close();
      }
    });
  });
});
