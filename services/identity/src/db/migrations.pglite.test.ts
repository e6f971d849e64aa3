import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { sql } from 'kysely';
import { PostgresUsersStore } from '../users/users.store.ts';
import { openDatabase } from './database.ts';
import { migrate } from './migrations.ts';
import { silentLog } from './test-databases.ts';

test('the identity schema survives a restart, migrating again is a no-op, and the bookkeeping keeps kysely defaults', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gh-identity-persist-'));
  try {
    const first = await openDatabase({ dataDir, log: silentLog });
    await migrate(first);
    const created = await new PostgresUsersStore(first).create({
      projectId: DEFAULT_PROJECT_ID,
      email: 'kept@example.test',
      passwordHash: null,
      role: 'user',
    });
    await first.destroy();

    const second = await openDatabase({ dataDir, log: silentLog });
    try {
      await migrate(second);
      const found = await new PostgresUsersStore(second).findByEmail(DEFAULT_PROJECT_ID, 'KEPT@example.test');
      assert.equal(found?.id, created.id);
      const projects = await second.selectFrom('projects').select(['id', 'name']).execute();
      assert.deepEqual(projects, [{ id: DEFAULT_PROJECT_ID, name: 'Default' }]);
      // Databases migrated before @gatehouse/db existed record their migrations here.
      const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(second);
      assert.deepEqual(
        rows.slice(0, 2).map((r) => r.name),
        ['0001_projects_users_tokens', '0002_one_time_tokens_email'],
      );
    } finally {
      await second.destroy();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
