import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Bus, InProcessTransport, loadConfig } from '@gatehouse/kit';
import { CHEAP_HASH } from './app.test-support.ts';
import { MemoryFlowStore, startIdentity } from './app.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrations.ts';
import { createPostgresDatabase, discardMail, noAuditEvents, silentLog } from './db/test-databases.ts';

test('replicas starting together on one Postgres migrate once and create one admin', async () => {
  const created = await createPostgresDatabase();
  const config = loadConfig({
    PASSWORD_HASH: CHEAP_HASH,
    ADMIN_EMAIL: 'root@example.test',
    ADMIN_PASSWORD: 'admin pw!',
  });
  // Three replicas: each its own pool and bus, as three processes would have.
  const replicas = await Promise.all(
    [1, 2, 3].map(async () => ({
      db: await openDatabase({ databaseUrl: created.url, dataDir: '/nonexistent', log: silentLog }),
      bus: new Bus(new InProcessTransport(), silentLog, { timeoutMs: 10_000 }),
    })),
  );
  try {
    await Promise.all(replicas.map(({ db }) => migrate(db)));
    const services = await Promise.all(
      replicas.map(({ bus, db }) =>
        startIdentity({
          bus,
          db,
          config,
          mail: discardMail,
          audit: noAuditEvents,
          flows: new MemoryFlowStore(),
          log: silentLog,
        }),
      ),
    );
    const [first] = replicas;
    assert.ok(first);
    const admins = await first.db.selectFrom('users').select('email').where('role', '=', 'admin').execute();
    assert.deepEqual(admins, [{ email: 'root@example.test' }]);
    const projects = await first.db.selectFrom('projects').select('name').execute();
    assert.deepEqual(projects, [{ name: 'Default' }]);
    await migrate(first.db); // nothing left to do, no error
    await Promise.all(services.map((s) => s.close()));
  } finally {
    for (const { db, bus } of replicas) {
      await bus.transport.close();
      await db.destroy();
    }
    await created.drop();
  }
});
