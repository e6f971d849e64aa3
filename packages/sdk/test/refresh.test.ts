import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createClient, GatehouseError, memoryStorage, type User } from '../src/index.ts';
import { fakeGatehouse } from './fake-gatehouse.ts';

const PASSWORD = 'correct horse battery';
const BASE = 'http://gatehouse.test';

/** A clock the test moves: `later(ms)` makes every stored token look that much older. */
function movableClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, later: (ms: number) => (offset += ms) };
}

async function signedIn(options: { refreshDelayMs?: number } = {}) {
  const server = fakeGatehouse(options);
  const clock = movableClock();
  const client = createClient({
    url: BASE,
    fetch: server.fetch,
    storage: memoryStorage(),
    realtime: false,
    clock: clock.now,
  });
  const result = await client.login({ email: 'ada@example.com', password: PASSWORD });
  assert.equal(result.type, 'signed_in');
  return { server, clock, client };
}

const bearerOf = (headers: Record<string, string>) => headers.authorization?.slice('Bearer '.length);

describe('refresh: one at a time, before expiry and after a 401', () => {
  test('20 concurrent calls with an expired token: exactly one refresh request, all 20 sent with the new token', async () => {
    const { server, clock, client } = await signedIn({ refreshDelayMs: 30 });
    const old = await client.getAccessToken();
    clock.later(901_000); // past the 900 s lifetime
    const users = await Promise.all(Array.from({ length: 20 }, () => client.me()));
    assert.equal(users.length, 20);
    assert.equal(server.callsTo('POST', '/auth/refresh').length, 1, 'one refresh on the wire');
    const fresh = await client.getAccessToken();
    assert.notEqual(fresh, old);
    const me = server.callsTo('GET', '/auth/me');
    assert.equal(me.length, 20, 'no call was sent with the stale token first');
    assert.ok(
      me.every((c) => bearerOf(c.headers) === fresh),
      'every call carried the new token',
    );
  });

  test('a token refreshed within the margin before expiry, not after', async () => {
    const { server, clock, client } = await signedIn();
    clock.later(900_000 - 61_000); // 61 s left: outside the 60 s margin
    await client.me();
    assert.equal(server.callsTo('POST', '/auth/refresh').length, 0);
    clock.later(2_000); // 59 s left: inside it
    await client.me();
    assert.equal(server.callsTo('POST', '/auth/refresh').length, 1);
  });

  test('20 concurrent calls refused with 401: one refresh, then each retried once with the new token', async () => {
    const { server, client } = await signedIn({ refreshDelayMs: 30 });
    const old = (await client.getAccessToken()) as string;
    server.refuseAccess(old); // the server no longer takes it, though the client's clock says it is valid
    await Promise.all(Array.from({ length: 20 }, () => client.me()));
    assert.equal(server.callsTo('POST', '/auth/refresh').length, 1);
    const fresh = await client.getAccessToken();
    const me = server.callsTo('GET', '/auth/me');
    assert.equal(me.length, 40, '20 refused, 20 retried');
    assert.equal(me.filter((c) => bearerOf(c.headers) === old).length, 20);
    assert.equal(me.filter((c) => bearerOf(c.headers) === fresh).length, 20);
  });

  test('a 401 that a refresh does not cure is thrown after one retry (no loop)', async () => {
    const server = fakeGatehouse();
    // Every access token is refused on this route, the new one too.
    const original = server.fetch;
    const refusing = async (input: string, init: RequestInit) => {
      const res = await original(input, init);
      if (new URL(input).pathname === '/auth/me') {
        return new Response(JSON.stringify({ error: 'unauthorized', message: 'no' }), { status: 401 });
      }
      return res;
    };
    const c2 = createClient({ url: BASE, fetch: refusing, storage: memoryStorage(), realtime: false });
    await c2.login({ email: 'ada@example.com', password: PASSWORD });
    const before = server.callsTo('POST', '/auth/refresh').length;
    await assert.rejects(c2.me(), (err) => GatehouseError.is(err, 'unauthorized') && err.status === 401);
    assert.equal(server.callsTo('POST', '/auth/refresh').length - before, 1);
    assert.equal(server.callsTo('GET', '/auth/me').length, 2);
    assert.ok(c2.isAuthenticated(), 'the refresh succeeded: the session is kept');
    c2.close();
  });

  test('a refresh refused with invalid_grant clears the session and fires onAuthChange(null)', async () => {
    const storage = memoryStorage();
    const server = fakeGatehouse();
    const clock = movableClock();
    const client = createClient({ url: BASE, fetch: server.fetch, storage, realtime: false, clock: clock.now });
    const seen: (User | null)[] = [];
    client.onAuthChange((user) => seen.push(user));
    await client.login({ email: 'ada@example.com', password: PASSWORD });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.email, 'ada@example.com');
    assert.ok(await storage.get('session'));
    server.spendAllRefreshTokens();
    clock.later(901_000);
    await assert.rejects(client.me(), (err) => GatehouseError.is(err) && err.status === 401);
    assert.deepEqual(seen.at(-1), null);
    assert.equal(seen.length, 2);
    assert.equal(await storage.get('session'), null, 'the tokens are gone from storage');
    assert.equal(client.isAuthenticated(), false);
    assert.equal(client.getCachedUser(), null);
    // And the next call does not try a refresh again: there is nothing to refresh.
    const refreshes = server.callsTo('POST', '/auth/refresh').length;
    await assert.rejects(client.me(), (err) => GatehouseError.is(err, 'unauthorized'));
    assert.equal(server.callsTo('POST', '/auth/refresh').length, refreshes);
  });

  test('a network failure during refresh keeps the session', async () => {
    const storage = memoryStorage();
    const server = fakeGatehouse();
    const clock = movableClock();
    let offline = false;
    const fetch = (input: string, init: RequestInit) =>
      offline ? Promise.reject(new TypeError('fetch failed')) : server.fetch(input, init);
    const client = createClient({ url: BASE, fetch, storage, realtime: false, clock: clock.now });
    await client.login({ email: 'ada@example.com', password: PASSWORD });
    clock.later(901_000);
    offline = true;
    await assert.rejects(client.me(), (err) => GatehouseError.is(err, 'network_error') && err.status === 0);
    assert.ok(await storage.get('session'), 'still stored');
    offline = false;
    assert.equal((await client.me()).email, 'ada@example.com');
    assert.equal(server.callsTo('POST', '/auth/refresh').length, 1);
  });

  test('an API key client authenticates with X-API-Key and never refreshes', async () => {
    const calls: { headers: Record<string, string>; path: string }[] = [];
    const fetch = async (input: string, init: RequestInit) => {
      calls.push({ path: new URL(input).pathname, headers: init.headers as Record<string, string> });
      return new Response(JSON.stringify({ error: 'unauthorized', message: 'this API key is not valid' }), {
        status: 401,
      });
    };
    const client = createClient({ url: BASE, fetch, apiKey: 'uk_test_key', realtime: false });
    assert.equal(client.isAuthenticated(), true);
    await assert.rejects(client.me(), (err) => GatehouseError.is(err, 'unauthorized'));
    assert.deepEqual(
      calls.map((c) => c.path),
      ['/auth/me'],
      'one call, no refresh, no retry',
    );
    assert.equal(calls[0]?.headers['x-api-key'], 'uk_test_key');
    assert.equal(calls[0]?.headers.authorization, undefined);
    assert.equal(await client.getAccessToken(), null);
  });

  test('a publishable key names the project on every call, beside the bearer token', async () => {
    const server = fakeGatehouse();
    const client = createClient({
      url: BASE,
      fetch: server.fetch,
      storage: memoryStorage(),
      realtime: false,
      publishableKey: 'pk_project',
    });
    await client.login({ email: 'ada@example.com', password: PASSWORD });
    await client.me();
    assert.ok(server.calls.every((c) => c.headers['x-api-key'] === 'pk_project'));
    assert.ok(bearerOf(server.callsTo('GET', '/auth/me')[0]?.headers ?? {}));
    const url = new URL(client.signInWithProvider('github', { redirectTo: 'http://app.test/cb' }));
    assert.equal(url.pathname, '/auth/oauth/github');
    assert.equal(url.searchParams.get('project'), 'pk_project');
    assert.equal(url.searchParams.get('redirect_to'), 'http://app.test/cb');
  });

  test('login answers the MFA challenge as its own case, and verifyMfa completes it', async () => {
    const challenge = { mfa_required: true, mfa_token: 'mfa-1', methods: ['totp', 'recovery_code'] };
    const server = fakeGatehouse();
    const sent: { path: string; body: unknown }[] = [];
    const fetch = async (input: string, init: RequestInit) => {
      const path = new URL(input).pathname;
      sent.push({ path, body: init.body ? JSON.parse(String(init.body)) : undefined });
      if (path === '/auth/login') return new Response(JSON.stringify(challenge), { status: 200 });
      if (path === '/auth/login/mfa') return server.fetch(`${BASE}/auth/register`, { method: 'POST' });
      return server.fetch(input, init);
    };
    const client = createClient({ url: BASE, fetch, storage: memoryStorage(), realtime: false });
    const result = await client.login({ email: 'ada@example.com', password: PASSWORD });
    assert.equal(result.type, 'mfa_required');
    assert.equal(client.isAuthenticated(), false, 'not signed in before the second factor');
    if (result.type !== 'mfa_required') return;
    assert.deepEqual(result.challenge.methods, ['totp', 'recovery_code']);
    const user = await client.verifyMfa(result.challenge, { recoveryCode: 'abcd-efgh' });
    assert.equal(user.email, 'ada@example.com');
    assert.ok(client.isAuthenticated());
    assert.deepEqual(sent.at(-1), {
      path: '/auth/login/mfa',
      body: { mfa_token: 'mfa-1', recovery_code: 'abcd-efgh' },
    });
  });
});
