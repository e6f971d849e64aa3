// Two clients on one storage are two tabs of one browser: Node 20 has BroadcastChannel (between
// the clients of one process, as between a browser's tabs), and the Web Locks path is given a
// lock manager of the test's own.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createClient, type LockManagerLike, memoryStorage, type TokenStorage, type User } from '../src/index.ts';
import { exclusive, TabChannel } from '../src/tabs.ts';
import { fakeGatehouse, until } from './fake-gatehouse.ts';

const PASSWORD = 'correct horse battery';
const BASE = 'http://gatehouse.test';

/** navigator.locks as the test's own: exclusive per name, and counting its grants. */
function testLocks() {
  const tails = new Map<string, Promise<unknown>>();
  const granted: string[] = [];
  const locks: LockManagerLike = {
    request(name, callback) {
      const previous = tails.get(name) ?? Promise.resolve();
      const run = previous.then(() => {
        granted.push(name);
        return callback({ name });
      });
      tails.set(
        name,
        run.catch(() => {}),
      );
      return run;
    },
  };
  return { locks, granted };
}

/** A storage with async answers (like IndexedDB or a native bridge), shared by both tabs. */
function asyncStorage(): TokenStorage & { values: Map<string, string> } {
  const values = new Map<string, string>();
  const later = <T>(value: T) => new Promise<T>((r) => setTimeout(() => r(value), 2));
  return {
    values,
    get: (key) => later(values.get(key) ?? null),
    set: async (key, value) => {
      await later(undefined);
      values.set(key, value);
    },
    remove: async (key) => {
      await later(undefined);
      values.delete(key);
    },
  };
}

function twoTabs(options: { locks: LockManagerLike | null; storage?: TokenStorage }) {
  const server = fakeGatehouse({ refreshDelayMs: 40 });
  let offset = 0;
  const clock = () => Date.now() + offset;
  const storage = options.storage ?? memoryStorage();
  const make = () =>
    createClient({ url: BASE, fetch: server.fetch, storage, realtime: false, clock, locks: options.locks });
  return { server, storage, tab1: make(), tab2: make(), expire: () => (offset += 901_000) };
}

describe('two tabs on one storage', () => {
  for (const path of ['Web Locks', 'BroadcastChannel'] as const) {
    test(`${path}: both tabs refresh at once and the refresh token is spent once; both go on with the new tokens`, async () => {
      const { locks, granted } = testLocks();
      const { server, storage, tab1, tab2, expire } = twoTabs({
        locks: path === 'Web Locks' ? locks : null,
        storage: asyncStorage(),
      });
      try {
        await tab1.login({ email: 'ada@example.com', password: PASSWORD });
        await tab2.restoreSession();
        expire();
        // Each tab has its own calls in flight when the token expires: 10 in each.
        const calls = [...Array.from({ length: 10 }, () => tab1.me()), ...Array.from({ length: 10 }, () => tab2.me())];
        await Promise.all(calls);
        const refreshes = server.callsTo('POST', '/auth/refresh');
        assert.equal(refreshes.length, 1, 'the second tab used the first one’s tokens');
        const stored = JSON.parse(String(await storage.get('session')));
        assert.equal(await tab1.getAccessToken(), stored.access_token);
        assert.equal(await tab2.getAccessToken(), stored.access_token);
        const lastTen = server.callsTo('GET', '/auth/me').slice(-20);
        assert.ok(lastTen.every((c) => c.headers.authorization === `Bearer ${stored.access_token}`));
        if (path === 'Web Locks')
          assert.ok(granted.length >= 1 && granted.every((n) => n.startsWith('gatehouse-refresh:')));
      } finally {
        tab1.close();
        tab2.close();
      }
    });
  }

  test('refreshSession in both tabs at the same moment: one request on the wire (BroadcastChannel lock)', async () => {
    const { server, tab1, tab2 } = twoTabs({ locks: null });
    try {
      await tab1.login({ email: 'ada@example.com', password: PASSWORD });
      await tab2.restoreSession();
      const [a, b] = await Promise.all([tab1.refreshSession(), tab2.refreshSession()]);
      assert.equal(a && b, true);
      assert.equal(server.callsTo('POST', '/auth/refresh').length, 1);
      assert.equal(await tab1.getAccessToken(), await tab2.getAccessToken());
    } finally {
      tab1.close();
      tab2.close();
    }
  });

  test('a sign-out in one tab fires onAuthChange(null) in the other; a sign-in fires it with the user', async () => {
    const { tab1, tab2, storage } = twoTabs({ locks: null });
    const seen: (User | null)[] = [];
    tab2.onAuthChange((user) => seen.push(user));
    try {
      await tab1.login({ email: 'ada@example.com', password: PASSWORD });
      await until(() => seen.length === 1, 2000, 'tab 2 hears the sign-in');
      assert.equal(seen[0]?.email, 'ada@example.com');
      assert.equal(tab2.isAuthenticated(), true);
      await tab1.logout();
      await until(() => seen.length === 2, 2000, 'tab 2 hears the sign-out');
      assert.equal(seen[1], null);
      assert.equal(tab2.isAuthenticated(), false);
      assert.equal(await storage.get('session'), null);
    } finally {
      tab1.close();
      tab2.close();
    }
  });

  test('clients on two different storages do not hear each other', async () => {
    const server = fakeGatehouse();
    const a = createClient({ url: BASE, fetch: server.fetch, storage: memoryStorage(), realtime: false });
    const b = createClient({ url: BASE, fetch: server.fetch, storage: memoryStorage(), realtime: false });
    const seen: (User | null)[] = [];
    b.onAuthChange((user) => seen.push(user));
    try {
      await b.login({ email: 'ada@example.com', password: PASSWORD });
      await a.login({ email: 'ada@example.com', password: PASSWORD });
      await a.logout();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(seen.length, 1);
      assert.equal(b.isAuthenticated(), true);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('the BroadcastChannel lock', () => {
  test('never lets two holders run at once, across channels of one name', async () => {
    const name = `test-lock-${Math.random()}`;
    const tabs = Array.from({ length: 4 }, () => new TabChannel(name));
    const locks = tabs.map((t) => exclusive(name, null, t));
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    try {
      await Promise.all(
        locks.flatMap((lock, i) =>
          [0, 1].map(() =>
            lock(async () => {
              inside++;
              most = Math.max(most, inside);
              order.push(i);
              await new Promise((r) => setTimeout(r, 15));
              inside--;
            }),
          ),
        ),
      );
    } finally {
      for (const t of tabs) t.close();
    }
    assert.equal(order.length, 8, 'every run ran');
    assert.equal(most, 1, 'one holder at a time');
  });
});
