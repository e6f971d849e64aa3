// The request's project at the gateway, over inject() with stand-in services: named by its
// publishable key (or its secret key, which acts as its admin on the admin API alone), found in
// memory; a token or key of one project refused on a request that names another; the project's
// settings (sign-in methods, redirect allow-list, lifetimes) in place of the instance's.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { apiKeyHash } from '@gatehouse/kit';
import { type StandInGateway, type StandIns, userRecord, withGateway } from '../app.test-support.ts';

const B = randomUUID();
const PK_B = `pk_${'b'.repeat(43)}`;
const SK_B = `sk_${'s'.repeat(43)}`;
const PASSWORD = 'correct horse battery';

const services: StandIns = {
  'identity.user.register': async (m) => ({ user: userRecord(m.email, { project_id: m.project_id }) }),
  'identity.user.get': async (m) => ({
    user: userRecord('x@example.com', { id: m.user_id, project_id: m.project_id }),
  }),
  'identity.guest.create': async (m) => ({ user: userRecord('', { project_id: m.project_id, role: 'guest' }) }),
  'identity.admin.user.list': async () => ({ users: [], next_cursor: null }),
  'identity.magic_link.send': async () => ({}),
};

function withProjectB(settings: object, run: (gw: StandInGateway) => Promise<void>) {
  return withGateway(services, async (gw) => {
    gw.projects.put({ id: B, publishable_key: PK_B, secret_key_hash: apiKeyHash(SK_B), settings });
    await run(gw);
  });
}

const post = (gw: StandInGateway, url: string, payload: object, headers: Record<string, string> = {}) =>
  gw.app.inject({ method: 'POST', url, payload, headers });

describe('the request names its project', () => {
  test('a publishable key names it for a sign-up; no key is the default project; an unknown key is 401', async () => {
    await withProjectB({}, async (gw) => {
      await post(gw, '/auth/register', { email: 'b@example.com', password: PASSWORD }, { 'x-api-key': PK_B });
      await post(gw, '/auth/register', { email: 'd@example.com', password: PASSWORD });
      assert.deepEqual(
        gw.callsTo('identity.user.register').map((m) => m.project_id),
        [B, DEFAULT_PROJECT_ID],
      );
      assert.deepEqual(
        gw.callsTo('session.session.create').map((m) => m.project_id),
        [B, DEFAULT_PROJECT_ID],
      );
      for (const key of [`pk_${'x'.repeat(43)}`, `sk_${'x'.repeat(43)}`]) {
        const res = await post(
          gw,
          '/auth/register',
          { email: 'u@example.com', password: PASSWORD },
          { 'x-api-key': key },
        );
        assert.equal(res.statusCode, 401);
        assert.deepEqual(res.json(), { error: 'unauthorized', message: 'this project key is not valid' });
      }
      assert.equal(gw.callsTo('identity.user.register').length, 2, 'an unknown key reaches no service');
    });
  });

  test('a token of one project is refused on a request that names another, and works in its own', async () => {
    await withProjectB({}, async (gw) => {
      const ofDefault = await gw.sign({ sub: randomUUID(), sid: randomUUID() });
      const ofB = await gw.sign({ sub: randomUUID(), sid: randomUUID(), aud: B });
      const session = (token: string, key?: string) =>
        gw.app.inject({
          method: 'GET',
          url: '/auth/session',
          headers: { authorization: `Bearer ${token}`, ...(key ? { 'x-api-key': key } : {}) },
        });
      assert.equal((await session(ofDefault, PK_B)).statusCode, 401);
      assert.equal((await session(ofB)).statusCode, 401, 'no key: the default project, not B');
      assert.equal((await session(ofB, PK_B)).statusCode, 200);
      assert.equal((await session(ofDefault)).statusCode, 200);
    });
  });

  test("the secret key acts as the project's admin on the admin API, and nowhere else", async () => {
    await withProjectB({}, async (gw) => {
      const res = await gw.app.inject({ method: 'GET', url: '/admin/users', headers: { 'x-api-key': SK_B } });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(gw.callsTo('identity.admin.user.list'), [{ project_id: B, limit: 50 }]);
      for (const url of ['/auth/me', '/auth/session']) {
        const other = await gw.app.inject({ method: 'GET', url, headers: { 'x-api-key': SK_B } });
        assert.equal(other.statusCode, 403, url);
        assert.equal(other.json().error, 'forbidden');
      }
      // The publishable key authenticates nobody.
      const pk = await gw.app.inject({ method: 'GET', url: '/admin/users', headers: { 'x-api-key': PK_B } });
      assert.equal(pk.statusCode, 401);
    });
  });

  test('a rotated (replaced) key stops naming the project at once', async () => {
    await withProjectB({}, async (gw) => {
      const NEW_SK = `sk_${'n'.repeat(43)}`;
      gw.projects.put({
        id: B,
        publishable_key: `pk_${'c'.repeat(43)}`,
        secret_key_hash: apiKeyHash(NEW_SK),
        settings: {},
      });
      for (const key of [SK_B, PK_B]) {
        const res = await gw.app.inject({ method: 'GET', url: '/admin/users', headers: { 'x-api-key': key } });
        assert.equal(res.statusCode, 401, key);
      }
      const res = await gw.app.inject({ method: 'GET', url: '/admin/users', headers: { 'x-api-key': NEW_SK } });
      assert.equal(res.statusCode, 200);
    });
  });
});

describe("a project's settings", () => {
  test('sign_in_methods turns the others off: 403 forbidden, and no service is asked', async () => {
    await withProjectB({ sign_in_methods: ['password'] }, async (gw) => {
      const headers = { 'x-api-key': PK_B };
      for (const [url, payload] of [
        ['/auth/guest', {}],
        ['/auth/magic-link', { email: 'm@example.com' }],
        ['/auth/magic-link/verify', { token: 'x' }],
        ['/auth/oauth/exchange', { code: 'x' }],
        ['/auth/passkeys/login/options', {}],
      ] as const) {
        const res = await post(gw, url, payload, headers);
        assert.equal(res.statusCode, 403, `${url}: ${res.body}`);
        assert.equal(res.json().error, 'forbidden');
      }
      assert.equal(
        (await post(gw, '/auth/register', { email: 'p@example.com', password: PASSWORD }, headers)).statusCode,
        201,
      );
      // The default project keeps every method.
      assert.equal((await post(gw, '/auth/guest', {})).statusCode, 201);
      const providers = await gw.app.inject({ method: 'GET', url: '/auth/providers', headers });
      assert.deepEqual(providers.json(), { providers: [] });
    });
  });

  test("redirect_allowlist replaces the instance's list for that project", async () => {
    await withGateway(
      services,
      async (gw) => {
        gw.projects.put({
          id: B,
          publishable_key: PK_B,
          secret_key_hash: null,
          settings: { redirect_allowlist: ['https://b.example/auth'] },
        });
        const send = (redirect_to: string, key?: string) =>
          post(gw, '/auth/magic-link', { email: 'r@example.com', redirect_to }, key ? { 'x-api-key': key } : {});
        assert.equal((await send('https://b.example/auth/cb', PK_B)).statusCode, 202);
        assert.equal((await send('https://instance.example/cb', PK_B)).statusCode, 400);
        assert.equal((await send('https://instance.example/cb')).statusCode, 202);
        assert.equal((await send('https://b.example/auth/cb')).statusCode, 400);
      },
      { REDIRECT_ALLOWLIST: 'https://instance.example' },
    );
  });

  test('its lifetimes go to the session service', async () => {
    await withProjectB({ access_token_ttl: 300, refresh_token_ttl: 3600 }, async (gw) => {
      await post(gw, '/auth/register', { email: 'l@example.com', password: PASSWORD }, { 'x-api-key': PK_B });
      const [create] = gw.callsTo('session.session.create');
      assert.equal(create?.access_ttl, 300);
      assert.equal(create?.refresh_ttl, 3600);
    });
  });
});
