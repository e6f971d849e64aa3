import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P } from '@gatehouse/contracts';
import { startTestIdentity } from './app.test-support.ts';
import { openPgliteTestDatabase } from './db/test-databases.ts';

const ADMIN = { ADMIN_EMAIL: ' Root@Example.test ', ADMIN_PASSWORD: 'admin password' };

const admins = (identity: Awaited<ReturnType<typeof startTestIdentity>>) =>
  identity.database.db.selectFrom('users').selectAll().where('role', '=', 'admin').execute();

describe('identity start', () => {
  test('creates the configured admin once, verified, able to sign in', async () => {
    const database = await openPgliteTestDatabase();
    try {
      const first = await startTestIdentity(ADMIN, database);
      const [admin, ...others] = await admins(first);
      assert.equal(others.length, 0);
      assert.equal(admin?.email, 'root@example.test');
      assert.equal(admin?.email_verified, true);
      assert.equal(admin?.project_id, P);
      assert.equal(first.published[0]?.subject, 'events.user.created');
      const { user } = await first.bus.request('identity.user.authenticate', {
        project_id: P,
        email: 'root@example.test',
        password: 'admin password',
      });
      assert.equal(user.role, 'admin');
      await first.close();

      // A restart, even with another admin address configured, adds no second admin.
      const second = await startTestIdentity({ ...ADMIN, ADMIN_EMAIL: 'other@example.test' }, database);
      assert.equal((await admins(second)).length, 1);
      assert.equal(second.published.length, 0);
      await second.close();
    } finally {
      await database.drop();
    }
  });

  test('creates no admin without both ADMIN_EMAIL and ADMIN_PASSWORD', async () => {
    const identity = await startTestIdentity({ ADMIN_EMAIL: 'root@example.test' });
    try {
      assert.equal((await admins(identity)).length, 0);
    } finally {
      await identity.close();
    }
  });

  test('does not promote a user who already holds ADMIN_EMAIL', async () => {
    const database = await openPgliteTestDatabase();
    try {
      const plain = await startTestIdentity({}, database);
      await plain.bus.request('identity.user.register', {
        project_id: P,
        email: 'root@example.test',
        password: 'users own',
      });
      await plain.close();
      const booted = await startTestIdentity(ADMIN, database);
      assert.equal((await admins(booted)).length, 0);
      await booted.close();
    } finally {
      await database.drop();
    }
  });

  test('answers the health check once the database answers SELECT 1', async () => {
    const identity = await startTestIdentity();
    try {
      assert.deepEqual(await identity.bus.request('identity.health.check', {}), { ok: true });
    } finally {
      await identity.close();
    }
  });
});
