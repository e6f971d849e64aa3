import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type AuditEvent, DEFAULT_PROJECT_ID, type RequestOf } from '@gatehouse/contracts';
import { AppError, auditEvent, isAppError, newId } from '@gatehouse/kit';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';
import { openPgliteTestDatabase, silentLog } from '../db/test-databases.ts';
import { auditStoreContract } from './audit.store.contract.ts';
import type { AuditFilter, AuditStore } from './audit.store.ts';
import { AuditLog } from './audit-log.ts';

// The embedded database (PGlite), as `gatehouse start` runs it.
auditStoreContract('PGlite', openPgliteTestDatabase);

/** Polls `ok` every 20 ms for at most 5 s. */
async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 5_000;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the audit log in identity (queue, batch writer, identity.audit.list)', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity();
  });
  after(() => identity.close());

  const list = (query: Partial<RequestOf<'identity.audit.list'>> = {}) =>
    identity.bus.request('identity.audit.list', { project_id: DEFAULT_PROJECT_ID, limit: 100, ...query });
  const written = async (userId: string, n: number) =>
    until(`${n} events of ${userId}`, async () => (await list({ user_id: userId })).events.length >= n);

  test('writes what the queue hands it, and lists it with every field, newest first', async () => {
    const user = newId();
    const admin = newId();
    const events = [
      auditEvent({
        type: 'sign_in.failed',
        project_id: DEFAULT_PROJECT_ID,
        user_id: user,
        ip: '203.0.113.5',
        user_agent: 'Firefox/130',
        data: { method: 'password', reason: 'invalid_credentials' },
      }),
      auditEvent({
        type: 'admin.user_updated',
        project_id: DEFAULT_PROJECT_ID,
        user_id: user,
        actor_id: admin,
        data: { changes: ['banned'], banned: true },
      }),
    ];
    for (const e of events) identity.audit.record(e);
    await written(user, 2);
    const { events: got, next_cursor } = await list({ user_id: user });
    assert.equal(next_cursor, null);
    const { v: _v1, project_id: _p1, ...first } = events[0] as AuditEvent;
    const { v: _v2, project_id: _p2, ...second } = events[1] as AuditEvent;
    assert.deepEqual(got, [second, first]);
  });

  test('a batch handed over again (a redelivery) is listed once', async () => {
    const user = newId();
    const event = auditEvent({
      type: 'sign_out',
      project_id: DEFAULT_PROJECT_ID,
      user_id: user,
      data: { scope: 'all' },
    });
    identity.audit.record(event);
    identity.audit.record(event);
    const marker = auditEvent({ type: 'password.changed', project_id: DEFAULT_PROJECT_ID, user_id: user });
    identity.audit.record(marker);
    await written(user, 2);
    await until('the queue to empty', async () => identity.audit.pending === 0);
    const { events } = await list({ user_id: user });
    assert.deepEqual(
      events.map((e) => e.id),
      [marker.id, event.id],
    );
  });

  test('filters by user, type and time, pages by cursor to the end, and keeps to the project', async () => {
    const user = newId();
    const t0 = Date.now() - 3_600_000;
    const at = (minutes: number) => new Date(t0 + minutes * 60_000);
    const types = [
      'sign_in.succeeded',
      'sign_out',
      'sign_in.succeeded',
      'password.changed',
      'sign_in.succeeded',
    ] as const;
    const mine = types.map((type, i) =>
      auditEvent({ type, project_id: DEFAULT_PROJECT_ID, user_id: user, at: at(i * 10), data: {} }),
    );
    const otherUser = auditEvent({ type: 'sign_out', project_id: DEFAULT_PROJECT_ID, user_id: newId(), data: {} });
    const otherProject = auditEvent({
      type: 'sign_out',
      project_id: '0190f5a0-0000-7000-8000-0000000000ee',
      user_id: user,
      data: {},
    });
    for (const e of [...mine, otherUser, otherProject]) identity.audit.record(e);
    await written(user, 5);

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await list({ user_id: user, limit: 2, ...(cursor ? { cursor } : {}) });
      assert.ok(res.events.length <= 2);
      seen.push(...res.events.map((e) => e.id));
      if (res.next_cursor === null) break;
      cursor = res.next_cursor;
    }
    assert.deepEqual(seen, mine.map((e) => e.id).reverse(), 'every page, newest first, nothing of another project');

    const signIns = await list({ user_id: user, type: 'sign_in.succeeded' });
    assert.deepEqual(
      signIns.events.map((e) => e.id),
      [mine[4], mine[2], mine[0]].map((e) => e?.id),
    );
    const window = await list({ user_id: user, since: at(10).toISOString(), until: at(30).toISOString() });
    assert.deepEqual(
      window.events.map((e) => e.id),
      [mine[2], mine[1]].map((e) => e?.id),
      'since included, until not',
    );
    const everyone = await list({ type: 'sign_out' });
    assert.ok(everyone.events.some((e) => e.id === otherUser.id));
    assert.ok(!everyone.events.some((e) => e.id === otherProject.id));
  });

  test('refuses a cursor it did not give out, and a limit past 100', async () => {
    await rejectsWith(list({ cursor: Buffer.from('not an id').toString('base64url') }), 'validation_failed');
    await rejectsWith(list({ limit: 101 }), 'validation_failed');
  });
});

describe('the audit batch writer', () => {
  const events = () =>
    [1, 2, 3].map(() => auditEvent({ type: 'sign_out', project_id: DEFAULT_PROJECT_ID, user_id: newId(), data: {} }));

  /** A stand-in database: refuses events by id, or everything while `down`. */
  function fakeStore(refused: Set<string>) {
    const stored: string[] = [];
    const state = { down: false, statements: 0 };
    const store: AuditStore = {
      async insert(batch) {
        state.statements++;
        if (state.down) throw new AppError('service_unavailable', 'the database is down');
        if (batch.some((e) => refused.has(e.id))) throw new AppError('validation_failed', 'unstorable');
        stored.push(...batch.map((e) => e.id));
      },
      async list(_projectId: string, _filter: AuditFilter) {
        return [];
      },
    };
    return { store, stored, state };
  }

  test('writes a batch in one statement', async () => {
    const { store, stored, state } = fakeStore(new Set());
    const batch = events();
    await new AuditLog({ store, log: silentLog }).write(batch);
    assert.equal(state.statements, 1);
    assert.deepEqual(
      stored,
      batch.map((e) => e.id),
    );
  });

  test('throws service_unavailable while the database is down, so the queue keeps the batch', async () => {
    const { store, stored, state } = fakeStore(new Set());
    state.down = true;
    await assert.rejects(new AuditLog({ store, log: silentLog }).write(events()), (err) =>
      isAppError(err, 'service_unavailable'),
    );
    assert.deepEqual(stored, []);
    assert.equal(state.statements, 1, 'no event-by-event retry against a database that is down');
  });

  test('an event the database refuses is dropped alone: the rest of its batch is written', async () => {
    const batch = events();
    const bad = batch[1] as AuditEvent;
    const { store, stored } = fakeStore(new Set([bad.id]));
    await new AuditLog({ store, log: silentLog }).write(batch);
    assert.deepEqual(stored, [batch[0]?.id, batch[2]?.id]);
  });
});
