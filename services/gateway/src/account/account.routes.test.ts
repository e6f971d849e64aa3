// GET /auth/me over inject(), with a stand-in identity: the profile comes from the gateway's cache
// after the first request, and is read again once the user changes through this gateway, signs in
// again, or identity could not answer. (The events from other replicas: tests/e2e/stack.int.test.ts.)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { AppError } from '@gatehouse/kit';
import { type StandInGateway, USER_FIELDS, userRecord, withGateway } from '../app.test-support.ts';

const PASSWORD = 'correct horse battery';

function identity(user = userRecord('me@example.test', { name: 'First' })) {
  const state = { user, down: false };
  return {
    state,
    standIns: {
      'identity.user.get': async () => {
        if (state.down) throw new AppError('service_unavailable', 'identity is away', { retryAfter: 1 });
        return { user: state.user };
      },
      'identity.user.update': async (m: { name?: string | null }) => {
        state.user = { ...state.user, name: m.name ?? null, updated_at: new Date(Date.now() + 1000).toISOString() };
        return { user: state.user };
      },
      'identity.user.authenticate': async () => ({ user: state.user }),
    },
  };
}

const me = (gw: StandInGateway, token: string) =>
  gw.app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${token}` } });

describe('GET /auth/me', () => {
  test('identity is asked once; later requests are answered from memory with the same body', async () => {
    const { state, standIns } = identity();
    await withGateway(standIns, async (gw) => {
      const token = await gw.sign({ sub: state.user.id, sid: randomUUID() });
      const first = await me(gw, token);
      const second = await me(gw, token);
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(second.statusCode, 200);
      assert.equal(second.body, first.body);
      assert.match(String(second.headers['content-type']), /^application\/json/);
      assert.deepEqual(Object.keys(second.json()).sort(), [...USER_FIELDS].sort());
      assert.equal(gw.callsTo('identity.user.get').length, 1);
    });
  });

  test('a change through this gateway, a new sign-in, or a failed read: identity is asked again', async () => {
    const { state, standIns } = identity();
    await withGateway(standIns, async (gw) => {
      const token = await gw.sign({ sub: state.user.id, sid: randomUUID() });
      await me(gw, token);
      const patched = await gw.app.inject({
        method: 'PATCH',
        url: '/auth/me',
        payload: { name: 'Second' },
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.equal((await me(gw, token)).json().name, 'Second');
      assert.equal(gw.callsTo('identity.user.get').length, 2);

      // Identity changed the user behind the gateway's back (its event would say so): until then
      // the cache answers; a new session for the user reads the profile afresh.
      state.user = { ...state.user, name: 'Third' };
      assert.equal((await me(gw, token)).json().name, 'Second');
      const login = await gw.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: state.user.email, password: PASSWORD },
      });
      assert.equal(login.statusCode, 200, login.body);
      assert.equal((await me(gw, token)).json().name, 'Third');

      // An answer that failed is not remembered.
      const other = userRecord('other@example.test');
      const otherToken = await gw.sign({ sub: other.id, sid: randomUUID() });
      state.down = true;
      assert.equal((await me(gw, otherToken)).statusCode, 503);
      state.down = false;
      state.user = other;
      assert.equal((await me(gw, otherToken)).json().id, other.id);
    });
  });

  test('PROFILE_CACHE_TTL=0: every request asks identity', async () => {
    const { state, standIns } = identity();
    await withGateway(
      standIns,
      async (gw) => {
        const token = await gw.sign({ sub: state.user.id, sid: randomUUID() });
        for (let i = 0; i < 3; i++) assert.equal((await me(gw, token)).statusCode, 200);
        assert.equal(gw.callsTo('identity.user.get').length, 3);
      },
      { PROFILE_CACHE_TTL: '0' },
    );
  });
});
