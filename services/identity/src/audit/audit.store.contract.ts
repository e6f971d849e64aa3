import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type AuditEvent, DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { auditEvent, newId } from '@gatehouse/kit';
import type { TestDatabase } from '../db/test-databases.ts';
import { PostgresAuditStore } from './audit.store.ts';

/** No such project: the table references none, so one bad event cannot refuse its whole batch. */
const OTHER_PROJECT = '0190f5a0-0000-7000-8000-0000000000ff';

/**
 * The audit store on a real database: a batch in one statement, a
 * redelivered batch stored once, and the list's filters and order.
 */
export function auditStoreContract(name: string, open: () => Promise<TestDatabase>): void {
  describe(`audit store on ${name}`, () => {
    let database: TestDatabase;
    let store: PostgresAuditStore;
    before(async () => {
      database = await open();
      store = new PostgresAuditStore(database.db);
    });
    after(() => database.drop());

    const event = (fields: Partial<AuditEvent> = {}): AuditEvent => ({
      ...auditEvent({ type: 'sign_out', project_id: DEFAULT_PROJECT_ID, user_id: newId(), data: { scope: 'session' } }),
      ...fields,
    });

    test('stores a batch with every field, and a batch stored again is stored once', async () => {
      const user = newId();
      const batch = [
        event({ user_id: user, ip: '203.0.113.1', user_agent: 'agent/1', actor_id: newId() }),
        event({ user_id: user, type: 'sign_in.failed', data: { method: 'password', reason: 'invalid_credentials' } }),
      ];
      await store.insert(batch);
      await store.insert(batch);
      await store.insert([batch[1] as AuditEvent, event({ user_id: user })]);
      const rows = await store.list(DEFAULT_PROJECT_ID, { userId: user, limit: 10 });
      assert.equal(rows.length, 3);
      const first = rows.find((r) => r.id === batch[0]?.id);
      assert.ok(first);
      assert.equal(first.ip, '203.0.113.1');
      assert.equal(first.user_agent, 'agent/1');
      assert.equal(first.actor_id, batch[0]?.actor_id);
      assert.equal(new Date(first.at).toISOString(), batch[0]?.at);
      assert.deepEqual(first.data, { scope: 'session' });
      const second = rows.find((r) => r.id === batch[1]?.id);
      assert.deepEqual(second?.data, { method: 'password', reason: 'invalid_credentials' });
    });

    test('lists newest first, by project, user, type and time, before a position', async () => {
      const user = newId();
      const t0 = Date.now() - 60_000;
      const at = (s: number) => new Date(t0 + s * 1000).toISOString();
      // Ids in time order, as producers make them.
      const mine = [
        event({ user_id: user, at: at(0) }),
        event({ user_id: user, at: at(10), type: 'password.changed', data: {} }),
        event({ user_id: user, at: at(20) }),
        event({ user_id: user, at: at(30), type: 'password.changed', data: {} }),
      ];
      const elsewhere = event({ user_id: user, project_id: OTHER_PROJECT, at: at(15) });
      await store.insert([...mine, elsewhere, event()]);
      const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
      const all = await store.list(DEFAULT_PROJECT_ID, { userId: user, limit: 10 });
      assert.deepEqual(ids(all), ids([...mine].reverse()), 'newest first, this project only');
      const changed = await store.list(DEFAULT_PROJECT_ID, { userId: user, type: 'password.changed', limit: 10 });
      assert.deepEqual(ids(changed), [mine[3]?.id, mine[1]?.id]);
      const window = await store.list(DEFAULT_PROJECT_ID, {
        userId: user,
        since: new Date(at(10)),
        until: new Date(at(30)),
        limit: 10,
      });
      assert.deepEqual(ids(window), [mine[2]?.id, mine[1]?.id], 'since included, until not');
      const page = await store.list(DEFAULT_PROJECT_ID, { userId: user, before: mine[2]?.id, limit: 1 });
      assert.deepEqual(ids(page), [mine[1]?.id]);
      const other = await store.list(OTHER_PROJECT, { limit: 10 });
      assert.deepEqual(ids(other), [elsewhere.id]);
    });
  });
}
