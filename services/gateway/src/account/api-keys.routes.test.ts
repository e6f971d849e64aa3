// API keys at the gateway over inject(), with a stand-in identity: a key authenticates as its
// user (from memory after the first request), is refused where only a token may act, and a
// revoked key is refused at once, whatever a slow identity would still say.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { AppError, apiKeyHash, newApiKey } from '@gatehouse/kit';
import { type StandIns, userRecord, withGateway } from '../app.test-support.ts';

const owner = userRecord('owner@example.test');
const { key: KEY } = newApiKey();
const KEY_ID = randomUUID();

/** An identity that knows KEY (and nothing else), and never hears of a revocation. */
const standIns = (over: StandIns = {}): StandIns => ({
  'identity.api_key.verify': async (m) => {
    if (m.key_hash !== apiKeyHash(KEY)) throw new AppError('unauthorized', 'this API key is not valid');
    return { key_id: KEY_ID, project_id: DEFAULT_PROJECT_ID, user_id: owner.id, role: 'user', expires_at: null };
  },
  'identity.user.get': async () => ({ user: owner }),
  'identity.api_key.revoke': async () => ({}),
  'identity.api_key.create': async (m) => ({
    api_key: {
      id: randomUUID(),
      name: m.name,
      prefix: 'uk_abcdefgh',
      created_at: new Date().toISOString(),
      last_used_at: null,
      expires_at: null,
    },
    key: newApiKey().key,
  }),
  ...over,
});

describe('API keys at the gateway', () => {
  test('X-API-Key or Bearer authenticates as the user; identity is asked once, then memory answers', async () => {
    await withGateway(standIns(), async (gw) => {
      for (const headers of [{ 'x-api-key': KEY }, { authorization: `Bearer ${KEY}` }, { 'x-api-key': KEY }]) {
        const res = await gw.app.inject({ method: 'GET', url: '/auth/me', headers });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().id, owner.id);
      }
      assert.equal(gw.callsTo('identity.api_key.verify').length, 1);
      assert.deepEqual(gw.callsTo('identity.api_key.verify')[0], { key_hash: apiKeyHash(KEY) });
      // The profile too is asked for once: the gateway's profile cache answers the other two.
      assert.deepEqual(
        gw.callsTo('identity.user.get').map((m) => m.user_id),
        [owner.id],
      );
    });
  });

  test('an unknown or malformed key is 401 unauthorized, and an unknown one is not asked about twice', async () => {
    await withGateway(standIns(), async (gw) => {
      const unknown = newApiKey().key;
      for (let i = 0; i < 3; i++) {
        const res = await gw.app.inject({ method: 'GET', url: '/auth/me', headers: { 'x-api-key': unknown } });
        assert.equal(res.statusCode, 401);
        assert.deepEqual(res.json(), { error: 'unauthorized', message: 'this API key is not valid' });
      }
      assert.equal(gw.callsTo('identity.api_key.verify').length, 1);
      for (const bad of ['uk_short', 'pk_whatever', `${KEY}x`, '']) {
        const res = await gw.app.inject({ method: 'GET', url: '/auth/me', headers: { 'x-api-key': bad } });
        assert.equal(res.statusCode, 401, bad);
      }
      assert.equal(gw.callsTo('identity.api_key.verify').length, 1, 'a malformed key costs no lookup');
    });
  });

  test('a key cannot manage keys, second factors, passkeys, identities, the password, sessions, or delete its user', async () => {
    await withGateway(standIns(), async (gw) => {
      const headers = { 'x-api-key': KEY };
      const refused = [
        { method: 'POST', url: '/auth/api-keys', payload: { name: 'more' } },
        { method: 'GET', url: '/auth/api-keys' },
        { method: 'DELETE', url: `/auth/api-keys/${KEY_ID}` },
        { method: 'POST', url: '/auth/mfa/totp/setup', payload: {} },
        { method: 'GET', url: '/auth/passkeys' },
        { method: 'GET', url: '/auth/identities' },
        {
          method: 'POST',
          url: '/auth/password/change',
          payload: { current_password: 'whatever it was', new_password: 'a long new password' },
        },
        { method: 'GET', url: '/auth/session' },
        { method: 'POST', url: '/auth/logout' },
        { method: 'GET', url: '/auth/sessions' },
        { method: 'DELETE', url: '/auth/me', payload: { password: 'x' } },
      ] as const;
      for (const route of refused) {
        const res = await gw.app.inject({ ...route, headers });
        assert.equal(res.statusCode, 403, `${route.method} ${route.url}: ${res.body}`);
        assert.equal(res.json().error, 'forbidden');
      }
      assert.deepEqual(
        gw.calls.map((c) => c.subject).filter((s) => s !== 'identity.api_key.verify'),
        [],
        'nothing reached a service',
      );
    });
  });

  test('a key revoked through this gateway is refused at once, though identity would still accept it', async () => {
    await withGateway(standIns(), async (gw) => {
      const token = await gw.sign({ sub: owner.id, sid: randomUUID() });
      assert.equal(
        (await gw.app.inject({ method: 'GET', url: '/auth/me', headers: { 'x-api-key': KEY } })).statusCode,
        200,
      );
      const del = await gw.app.inject({
        method: 'DELETE',
        url: `/auth/api-keys/${KEY_ID}`,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(del.statusCode, 204);
      assert.deepEqual(gw.callsTo('identity.api_key.revoke'), [
        { project_id: DEFAULT_PROJECT_ID, user_id: owner.id, key_id: KEY_ID },
      ]);
      for (let i = 0; i < 2; i++) {
        const res = await gw.app.inject({ method: 'GET', url: '/auth/me', headers: { 'x-api-key': KEY } });
        assert.equal(res.statusCode, 401);
      }
    });
  });

  test('create answers the key once, with a token; the body is checked', async () => {
    await withGateway(standIns(), async (gw) => {
      const headers = { authorization: `Bearer ${await gw.sign({ sub: owner.id, sid: randomUUID() })}` };
      const res = await gw.app.inject({
        method: 'POST',
        url: '/auth/api-keys',
        headers,
        payload: { name: 'ci', expires_in_days: 30 },
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(Object.keys(res.json()).sort(), ['created_at', 'expires_at', 'id', 'key', 'name', 'prefix']);
      assert.match(res.json().key, /^uk_/);
      assert.deepEqual(gw.callsTo('identity.api_key.create')[0], {
        project_id: DEFAULT_PROJECT_ID,
        user_id: owner.id,
        name: 'ci',
        expires_in_days: 30,
      });
      for (const payload of [{}, { name: '' }, { name: 'x', expires_in_days: 0 }, { name: 'x', scope: 'all' }]) {
        const bad = await gw.app.inject({ method: 'POST', url: '/auth/api-keys', headers, payload });
        assert.equal(bad.statusCode, 400, JSON.stringify(payload));
        assert.equal(bad.json().error, 'validation_failed');
      }
    });
  });

  test('identity down: a key not in memory is 503, never admitted', async () => {
    await withGateway(
      standIns({
        'identity.api_key.verify': async () => {
          throw new AppError('service_unavailable', 'identity is down');
        },
      }),
      async (gw) => {
        const res = await gw.app.inject({ method: 'GET', url: '/auth/me', headers: { 'x-api-key': KEY } });
        assert.equal(res.statusCode, 503);
        assert.equal(res.json().error, 'service_unavailable');
      },
    );
  });
});
