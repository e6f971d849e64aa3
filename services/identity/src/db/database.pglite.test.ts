import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { PostgresUsersStore } from '../users/users.store.ts';
import { openDatabase, pingDatabase } from './database.ts';
import { migrate } from './migrations.ts';
import { silentLog } from './test-databases.ts';

test('embedded mode keeps its data in DATA_DIR/pgdata across restarts, and migrating again is a no-op', async () => {
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
    assert.ok(existsSync(join(dataDir, 'pgdata', 'PG_VERSION')));

    const second = await openDatabase({ dataDir, log: silentLog });
    try {
      await migrate(second);
      await pingDatabase(second);
      const found = await new PostgresUsersStore(second).findByEmail(DEFAULT_PROJECT_ID, 'KEPT@example.test');
      assert.equal(found?.id, created.id);
      const projects = await second.selectFrom('projects').select(['id', 'name']).execute();
      assert.deepEqual(projects, [{ id: DEFAULT_PROJECT_ID, name: 'Default' }]);
    } finally {
      await second.destroy();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
