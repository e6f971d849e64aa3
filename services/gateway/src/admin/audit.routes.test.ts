// GET /admin/audit over inject(), with a stand-in identity: the role check, what it asks identity
// (the caller's project, the filters, the limit), and the queries it refuses.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { type AuditEventView, DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { type StandIns, withGateway } from '../app.test-support.ts';

const EVENT: AuditEventView = {
  id: '0190f5a0-0000-7000-8000-00000000e001',
  type: 'admin.user_updated',
  user_id: randomUUID(),
  actor_id: randomUUID(),
  ip: '203.0.113.8',
  user_agent: 'Console/1.0',
  at: new Date().toISOString(),
  data: { changes: ['banned'], banned: true },
};
const identity: StandIns = {
  'identity.audit.list': async () => ({ events: [EVENT], next_cursor: 'next' }),
};

describe('GET /admin/audit', () => {
  test('401 unauthorized without credentials, 403 forbidden for a user or a guest, and identity is not asked', async () => {
    await withGateway(identity, async (gw) => {
      const anonymous = await gw.app.inject({ method: 'GET', url: '/admin/audit' });
      assert.equal(anonymous.statusCode, 401);
      assert.equal(anonymous.json().error, 'unauthorized');
      for (const role of ['user', 'guest'] as const) {
        const token = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role });
        const res = await gw.app.inject({
          method: 'GET',
          url: '/admin/audit',
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.statusCode, 403, role);
        assert.deepEqual(res.json(), { error: 'forbidden', message: 'this needs an admin' });
      }
      assert.deepEqual(gw.callsTo('identity.audit.list'), []);
    });
  });

  test("asks identity for the admin's project with the filters and the limit (50 when absent), and answers its page", async () => {
    await withGateway(identity, async (gw) => {
      const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
      const headers = { authorization: `Bearer ${admin}` };
      const user = randomUUID();
      const since = '2026-01-01T00:00:00.000Z';
      const until = '2026-02-01T00:00:00Z';
      const res = await gw.app.inject({
        method: 'GET',
        url: `/admin/audit?user_id=${user}&type=sign_in.failed&since=${since}&until=${until}&limit=7&cursor=abc`,
        headers,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { events: [EVENT], next_cursor: 'next' });
      await gw.app.inject({ method: 'GET', url: '/admin/audit', headers });
      assert.deepEqual(gw.callsTo('identity.audit.list'), [
        {
          project_id: DEFAULT_PROJECT_ID,
          limit: 7,
          user_id: user,
          type: 'sign_in.failed',
          since,
          until,
          cursor: 'abc',
        },
        { project_id: DEFAULT_PROJECT_ID, limit: 50 },
      ]);
    });
  });

  test('400 validation_failed for a filter it cannot use, before identity is asked', async () => {
    await withGateway(identity, async (gw) => {
      const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
      for (const query of [
        'limit=0',
        'limit=101',
        'limit=ten',
        'type=user.password',
        'user_id=42',
        'since=yesterday',
        'until=2026-13-45',
        'email=ada@example.com',
      ]) {
        const res = await gw.app.inject({
          method: 'GET',
          url: `/admin/audit?${query}`,
          headers: { authorization: `Bearer ${admin}` },
        });
        assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
        assert.equal(res.json().error, 'validation_failed');
      }
      assert.deepEqual(gw.callsTo('identity.audit.list'), []);
    });
  });
});
