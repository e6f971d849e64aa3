// The admin API's user routes over inject(), with stand-in identity and session services:
// the role check on every route, what each route asks of the services, and when sessions end.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import { assertAdminOnly, type StandIns, sessionCheck, userRecord, withGateway } from '../app.test-support.ts';

const USER_ID = randomUUID();
const target = userRecord('target@example.test', { id: USER_ID });
const session = {
  id: randomUUID(),
  user_id: USER_ID,
  created_at: target.created_at,
  last_used_at: target.created_at,
  expires_at: target.created_at,
  ip: '127.0.0.1',
  user_agent: null,
  amr: ['pwd'],
};
const REVOKED = [randomUUID(), randomUUID()];

const standIns: StandIns = {
  'identity.admin.user.list': async () => ({ users: [{ ...target, banned: true }], next_cursor: 'next' }),
  'identity.user.get': async (m) => {
    if (m.user_id !== USER_ID) throw new AppError('not_found', 'no such user');
    return { user: target };
  },
  'identity.admin.user.update': async (m) => ({
    user: { ...target, ...(m.role ? { role: m.role } : {}), ...(m.banned !== undefined ? { banned: m.banned } : {}) },
  }),
  'identity.admin.user.delete': async () => ({}),
  'session.session.list': async () => ({ sessions: [session] }),
  'session.user.revoke': async () => ({ session_ids: REVOKED }),
};

/** Every admin route, with a body where it takes one. */
const ROUTES: { method: 'GET' | 'PATCH' | 'DELETE'; url: string; payload?: object }[] = [
  { method: 'GET', url: '/admin/users' },
  { method: 'GET', url: `/admin/users/${USER_ID}` },
  { method: 'PATCH', url: `/admin/users/${USER_ID}`, payload: { name: 'x' } },
  { method: 'DELETE', url: `/admin/users/${USER_ID}` },
  { method: 'GET', url: `/admin/users/${USER_ID}/sessions` },
  { method: 'DELETE', url: `/admin/users/${USER_ID}/sessions` },
];

describe('admin user routes', () => {
  test('every route: 401 unauthorized without a token, 403 forbidden for a user or a guest, and no service is asked', async () => {
    await withGateway(standIns, (gw) => assertAdminOnly(gw, ROUTES));
  });

  test('lists with the search, the limit (50 when absent) and the cursor, in the caller project; users carry banned', async () => {
    await withGateway(standIns, async (gw) => {
      const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
      const headers = { authorization: `Bearer ${admin}` };
      const res = await gw.app.inject({ method: 'GET', url: '/admin/users?search=ann&limit=7&cursor=abc', headers });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.next_cursor, 'next');
      assert.equal(body.users[0].banned, true);
      assert.equal(body.users[0].has_password, undefined, 'identity-only fields stay inside');
      assert.equal(body.users[0].project_id, undefined);
      await gw.app.inject({ method: 'GET', url: '/admin/users', headers });
      assert.deepEqual(gw.callsTo('identity.admin.user.list'), [
        { project_id: DEFAULT_PROJECT_ID, limit: 7, search: 'ann', cursor: 'abc' },
        { project_id: DEFAULT_PROJECT_ID, limit: 50 },
      ]);
      for (const query of ['limit=0', 'limit=101', 'limit=ten', 'unknown=1']) {
        const bad = await gw.app.inject({ method: 'GET', url: `/admin/users?${query}`, headers });
        assert.equal(bad.statusCode, 400, query);
        assert.equal(bad.json().error, 'validation_failed');
      }
    });
  });

  test('a ban or a role change ends the user sessions at once, on this replica too; a profile change does not', async () => {
    await withGateway(standIns, async (gw) => {
      const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
      const headers = { authorization: `Bearer ${admin}` };
      const victim = await gw.sign({ sub: USER_ID, sid: REVOKED[0] as string });
      assert.equal(await sessionCheck(gw.app, victim), 200);
      const patch = (payload: object) =>
        gw.app.inject({ method: 'PATCH', url: `/admin/users/${USER_ID}`, headers, payload });

      assert.equal((await patch({ name: 'Renamed', metadata: { a: 1 } })).statusCode, 200);
      assert.equal(gw.callsTo('session.user.revoke').length, 0);
      const banned = await patch({ banned: true });
      assert.equal(banned.statusCode, 200);
      assert.equal(banned.json().banned, true);
      assert.deepEqual(gw.callsTo('session.user.revoke'), [{ user_id: USER_ID, reason: 'banned' }]);
      assert.equal(await sessionCheck(gw.app, victim), 401);
      await patch({ role: 'admin' });
      assert.deepEqual(gw.callsTo('session.user.revoke').at(-1), { user_id: USER_ID, reason: 'role_changed' });
      await patch({ banned: false });
      assert.equal(gw.callsTo('session.user.revoke').length, 2, 'lifting a ban ends nothing');
      assert.deepEqual(gw.callsTo('identity.admin.user.update')[1], {
        banned: true,
        project_id: DEFAULT_PROJECT_ID,
        user_id: USER_ID,
      });
      for (const payload of [{ role: 'guest' }, { role: 'owner' }, { banned: 'yes' }, { email: 'a@b.c' }]) {
        const bad = await patch(payload);
        assert.equal(bad.statusCode, 400, JSON.stringify(payload));
        assert.equal(bad.json().error, 'validation_failed');
      }
    });
  });

  test('delete ends the sessions; sessions list and revoke-all check the user is of the project first', async () => {
    await withGateway(standIns, async (gw) => {
      const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
      const headers = { authorization: `Bearer ${admin}` };
      const del = await gw.app.inject({ method: 'DELETE', url: `/admin/users/${USER_ID}`, headers });
      assert.equal(del.statusCode, 204);
      assert.deepEqual(gw.callsTo('session.user.revoke'), [{ user_id: USER_ID, reason: 'account_deleted' }]);

      const list = await gw.app.inject({ method: 'GET', url: `/admin/users/${USER_ID}/sessions`, headers });
      assert.equal(list.statusCode, 200);
      assert.deepEqual(list.json(), { sessions: [session] });
      const revoke = await gw.app.inject({ method: 'DELETE', url: `/admin/users/${USER_ID}/sessions`, headers });
      assert.deepEqual(revoke.json(), { sessions_revoked: 2 });

      const stranger = randomUUID();
      for (const method of ['GET', 'DELETE'] as const) {
        const res = await gw.app.inject({ method, url: `/admin/users/${stranger}/sessions`, headers });
        assert.equal(res.statusCode, 404);
        assert.equal(res.json().error, 'not_found');
      }
      assert.equal(gw.callsTo('session.session.list').length, 1);
      assert.equal(gw.callsTo('session.user.revoke').length, 2);
      const malformed = await gw.app.inject({ method: 'GET', url: '/admin/users/not-a-uuid', headers });
      assert.equal(malformed.statusCode, 400);
    });
  });
});
