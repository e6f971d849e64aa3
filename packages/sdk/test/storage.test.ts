import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createClient,
  localStorageAdapter,
  memoryStorage,
  type TokenStorage,
  type WebStorageLike,
} from '../src/index.ts';
import { fakeGatehouse } from './fake-gatehouse.ts';

const PASSWORD = 'correct horse battery';
const BASE = 'http://gatehouse.test';

function webStorage(): WebStorageLike & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (k) => items.get(k) ?? null,
    setItem: (k, v) => void items.set(k, v),
    removeItem: (k) => void items.delete(k),
  };
}

describe('storage adapters', () => {
  test('memoryStorage: get, set, remove; every one is its own (a different name)', async () => {
    const a = memoryStorage();
    const b = memoryStorage();
    assert.notEqual(a.name, b.name);
    assert.equal(await a.get('k'), null);
    await a.set('k', 'v');
    assert.equal(await a.get('k'), 'v');
    assert.equal(await b.get('k'), null);
    await a.remove('k');
    assert.equal(await a.get('k'), null);
  });

  test('localStorageAdapter: keys under the prefix, a name shared by every tab with that prefix', async () => {
    const area = webStorage();
    const one = localStorageAdapter({ prefix: 'shop.', storage: area });
    const other = localStorageAdapter({ prefix: 'shop.', storage: area });
    const blog = localStorageAdapter({ prefix: 'blog.', storage: area });
    assert.equal(one.name, other.name);
    assert.notEqual(one.name, blog.name);
    await one.set('session', 'x');
    assert.deepEqual([...area.items.keys()], ['shop.session']);
    assert.equal(await other.get('session'), 'x');
    assert.equal(await blog.get('session'), null);
    await other.remove('session');
    assert.equal(area.items.size, 0);
    assert.equal(localStorageAdapter({ storage: area }).name, 'localStorage:gatehouse.');
  });

  test('localStorageAdapter: the storage event of another tab reaches subscribe, keys of its prefix only', () => {
    const listeners = new Set<(e: { key: string | null }) => void>();
    const g = globalThis as unknown as Record<string, unknown>;
    const saved = [g.addEventListener, g.removeEventListener];
    g.addEventListener = (_type: string, fn: (e: { key: string | null }) => void) => listeners.add(fn);
    g.removeEventListener = (_type: string, fn: (e: { key: string | null }) => void) => listeners.delete(fn);
    try {
      const heard: string[] = [];
      const off = localStorageAdapter({ prefix: 'shop.', storage: webStorage() }).subscribe?.((k) => heard.push(k));
      for (const fn of listeners) {
        fn({ key: 'shop.session' });
        fn({ key: 'blog.session' });
        fn({ key: null });
      }
      assert.deepEqual(heard, ['session', 'session']);
      off?.();
      assert.equal(listeners.size, 0);
    } finally {
      [g.addEventListener, g.removeEventListener] = saved;
    }
  });

  test('a client keeps one JSON record in its storage: written at sign-in, removed at sign-out', async () => {
    const area = webStorage();
    const server = fakeGatehouse();
    const client = createClient({
      url: BASE,
      fetch: server.fetch,
      storage: localStorageAdapter({ prefix: 'app.', storage: area }),
      realtime: false,
    });
    await client.login({ email: 'ada@example.com', password: PASSWORD });
    const record = JSON.parse(area.items.get('app.session') ?? 'null');
    assert.equal(typeof record.access_token, 'string');
    assert.equal(typeof record.refresh_token, 'string');
    assert.ok(record.expires_at > Date.now() + 890_000 && record.expires_at <= Date.now() + 900_000);
    assert.equal(record.refresh_at, record.expires_at - 60_000);
    assert.equal(record.user.email, 'ada@example.com');
    // A page loaded later reads it synchronously, before any request.
    const reloaded = createClient({
      url: BASE,
      fetch: server.fetch,
      storage: localStorageAdapter({ prefix: 'app.', storage: area }),
      realtime: false,
    });
    assert.equal(reloaded.isAuthenticated(), true);
    assert.equal(reloaded.getCachedUser()?.email, 'ada@example.com');
    await client.logout();
    assert.equal(area.items.has('app.session'), false);
    client.close();
    reloaded.close();
  });

  test('a custom storage with async methods works the same; a damaged record is no session', async () => {
    const values = new Map<string, string>();
    const custom: TokenStorage = {
      get: async (k) => values.get(k),
      set: async (k, v) => void values.set(k, v),
      remove: async (k) => void values.delete(k),
    };
    const server = fakeGatehouse();
    const client = createClient({ url: BASE, fetch: server.fetch, storage: custom, realtime: false });
    assert.equal(await client.restoreSession(), null);
    await client.login({ email: 'ada@example.com', password: PASSWORD });
    assert.ok(values.get('session'));
    const restored = createClient({ url: BASE, fetch: server.fetch, storage: custom, realtime: false });
    assert.equal((await restored.restoreSession())?.email, 'ada@example.com');
    values.set('session', '{not json');
    const damaged = createClient({ url: BASE, fetch: server.fetch, storage: custom, realtime: false });
    assert.equal(await damaged.restoreSession(), null);
    for (const c of [client, restored, damaged]) c.close();
  });

  test('restoreSession with a session the server ended: signed out, storage cleared', async () => {
    const storage = memoryStorage();
    const server = fakeGatehouse();
    const client = createClient({ url: BASE, fetch: server.fetch, storage, realtime: false });
    await client.login({ email: 'ada@example.com', password: PASSWORD });
    server.spendAllRefreshTokens();
    server.refuseAccess(String(await client.getAccessToken()));
    const later = createClient({ url: BASE, fetch: server.fetch, storage, realtime: false });
    const seen: unknown[] = [];
    later.onAuthChange((u) => seen.push(u));
    assert.equal(await later.restoreSession(), null);
    assert.deepEqual(seen, [null]);
    assert.equal(await storage.get('session'), null);
    client.close();
    later.close();
  });
});

describe('cookie mode', () => {
  test('nothing stored; credentials included, auth_mode cookie on sign-ins, the CSRF cookie echoed on changes', async () => {
    const calls: { path: string; init: RequestInit }[] = [];
    const user = { id: 'u1', email: 'ada@example.com' };
    const fetch = async (input: string, init: RequestInit) => {
      const path = new URL(input).pathname;
      calls.push({ path, init });
      if (path === '/auth/login') {
        return new Response(JSON.stringify({ token_type: 'Bearer', expires_in: 900, user }), { status: 200 });
      }
      if (path === '/auth/logout') return new Response(null, { status: 204 });
      return new Response(JSON.stringify(user), { status: 200 });
    };
    const g = globalThis as unknown as { document?: unknown };
    g.document = { cookie: 'other=1; gh_csrf=csrf-token-value; x=y' };
    try {
      const storage = memoryStorage();
      const client = createClient({ url: BASE, fetch, storage: 'cookie', realtime: false });
      const result = await client.login({ email: 'ada@example.com', password: PASSWORD });
      assert.equal(result.type, 'signed_in');
      assert.equal(client.isAuthenticated(), true);
      await client.me();
      await client.logout();
      assert.equal(await storage.get('session'), null);
      const [login, me, logout] = calls;
      assert.ok(calls.every((c) => c.init.credentials === 'include'));
      assert.deepEqual(JSON.parse(String(login?.init.body)), {
        email: 'ada@example.com',
        password: PASSWORD,
        auth_mode: 'cookie',
      });
      const headers = (c: { init: RequestInit } | undefined) => (c?.init.headers ?? {}) as Record<string, string>;
      assert.equal(headers(login)['x-csrf-token'], 'csrf-token-value');
      assert.equal(headers(me)['x-csrf-token'], undefined, 'a GET needs none');
      assert.equal(headers(logout)['x-csrf-token'], 'csrf-token-value');
      assert.equal(headers(me).authorization, undefined, 'no bearer token: the cookie');
      assert.equal(client.isAuthenticated(), false);
      client.close();
    } finally {
      delete g.document;
    }
  });

  test('two tabs in cookie mode refresh at once: one POST /auth/refresh (the other tab heard it)', async () => {
    let refreshes = 0;
    const user = { id: 'u1', email: 'ada@example.com' };
    const fetch = async (input: string) => {
      const path = new URL(input).pathname;
      if (path === '/auth/refresh') {
        refreshes++;
        await new Promise((r) => setTimeout(r, 30));
      }
      return new Response(JSON.stringify({ token_type: 'Bearer', expires_in: 900, user }), { status: 200 });
    };
    const url = `http://cookie-tabs-${Math.random()}.test`;
    const tab1 = createClient({ url, fetch, storage: 'cookie', realtime: false, locks: null });
    const tab2 = createClient({ url, fetch, storage: 'cookie', realtime: false, locks: null });
    try {
      await tab1.login({ email: 'ada@example.com', password: PASSWORD });
      const [a, b] = await Promise.all([tab1.refreshSession(), tab2.refreshSession()]);
      assert.deepEqual([a, b], [true, true]);
      assert.equal(refreshes, 1);
      // Later, a refresh of its own: the cookies' generation moved on in both tabs.
      assert.equal(await tab2.refreshSession(), true);
      assert.equal(refreshes, 2);
    } finally {
      tab1.close();
      tab2.close();
    }
  });
});
