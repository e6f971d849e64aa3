import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { createLogger } from '@gatehouse/kit';
import { KeyService } from '../keys/keys.service.ts';
import type { StoredKey } from '../keys/keys.store.ts';
import type { RefreshInput, SessionRecord, SessionStore } from './sessions.store.ts';

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;
const GRACE = 10_000;
const IDLE = 7 * DAY;
const MAX_AGE = 30 * DAY;

const hash = () => randomBytes(32).toString('hex');

function session(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const at = overrides.created_at ?? T0;
  return {
    id: randomUUID(),
    user_id: randomUUID(),
    project_id: randomUUID(),
    role: 'user',
    amr: ['pwd'],
    auth_time: Math.floor(at / 1000),
    created_at: at,
    last_used_at: at,
    expires_at: at + MAX_AGE,
    idle_expires_at: at + IDLE,
    ip: '203.0.113.7',
    user_agent: null,
    ...overrides,
  };
}

function refreshing(presentedHash: string, now: number, extra: Partial<RefreshInput> = {}): RefreshInput {
  return { presentedHash, nextHash: hash(), now, graceMs: GRACE, idleMs: IDLE, revokedUntil: now + 960_000, ...extra };
}

/** Opens a session in `store` and returns it with its first refresh-token hash. */
async function opened(store: SessionStore, overrides: Partial<SessionRecord> = {}) {
  const s = session(overrides);
  const first = hash();
  await store.createSession(s, first);
  return { s, first };
}

/**
 * What every session store must do, run against the memory store and the
 * Redis store. `open` returns a store with nothing in it (its own key space).
 */
export function sessionStoreContract(name: string, open: () => SessionStore): void {
  describe(`${name} session store contract`, () => {
    test('stores a session and lists a user’s live sessions newest first', async () => {
      const store = open();
      const { s: older } = await opened(store);
      const { s: newer } = await opened(store, { user_id: older.user_id, created_at: T0 + 1000, user_agent: 'ua' });
      await opened(store); // another user's
      assert.deepEqual(await store.getSession(older.id, T0 + 1), older);
      assert.deepEqual(
        (await store.listSessions(older.user_id, T0 + 2000)).map((x) => x.id),
        [newer.id, older.id],
      );
      assert.equal(await store.getSession(randomUUID(), T0), null);
      assert.deepEqual(await store.listSessions(randomUUID(), T0), []);
    });

    test('rotates an active token: the new one works and the session records its use', async () => {
      const store = open();
      const { s, first } = await opened(store);
      const step = refreshing(first, T0 + 5000, { ip: '198.51.100.1', userAgent: 'tab' });
      const outcome = await store.refresh(step);
      assert.equal(outcome.kind, 'rotated');
      assert.ok(outcome.kind === 'rotated');
      assert.equal(outcome.session.id, s.id);
      assert.equal(outcome.session.last_used_at, T0 + 5000);
      assert.equal(outcome.session.ip, '198.51.100.1');
      assert.equal(outcome.session.user_agent, 'tab');
      assert.equal(outcome.session.idle_expires_at, T0 + 5000 + IDLE);
      assert.equal((await store.refresh(refreshing(step.nextHash, T0 + 6000))).kind, 'rotated');
    });

    test('accepts a rotated token again within the grace window, which does not slide', async () => {
      const store = open();
      const { s, first } = await opened(store);
      await store.refresh(refreshing(first, T0));
      const again = await store.refresh(refreshing(first, T0 + 6000));
      assert.equal(again.kind, 'rotated');
      assert.equal((await store.refresh(refreshing(first, T0 + GRACE))).kind, 'rotated');
      // Measured from the first rotation, not from the repeats.
      const late = await store.refresh(refreshing(first, T0 + GRACE + 1));
      assert.deepEqual(late, { kind: 'reused', sessionId: s.id, userId: s.user_id });
    });

    test('refuses a refresh token replayed after the grace window and revokes the session', async () => {
      const store = open();
      const { s, first } = await opened(store);
      const step = refreshing(first, T0);
      await store.refresh(step);
      const replay = await store.refresh(refreshing(first, T0 + GRACE + 1, { revokedUntil: T0 + 999_000 }));
      assert.deepEqual(replay, { kind: 'reused', sessionId: s.id, userId: s.user_id });
      assert.equal(await store.getSession(s.id, T0 + GRACE + 2), null);
      assert.deepEqual(await store.listSessions(s.user_id, T0 + GRACE + 2), []);
      // The legitimate holder's newer token dies with the family.
      assert.deepEqual(await store.refresh(refreshing(step.nextHash, T0 + GRACE + 3)), { kind: 'invalid' });
      assert.deepEqual(await store.listRevocations(T0 + GRACE + 3), [{ session_id: s.id, until: T0 + 999_000 }]);
    });

    test('concurrent refreshes of one token all succeed, each with its own working token', async () => {
      const store = open();
      const { s, first } = await opened(store);
      const steps = Array.from({ length: 5 }, () => refreshing(first, T0 + 100));
      const outcomes = await Promise.all(steps.map((step) => store.refresh(step)));
      for (const outcome of outcomes) {
        assert.equal(outcome.kind, 'rotated');
        assert.equal(outcome.kind === 'rotated' && outcome.session.id, s.id);
      }
      assert.ok(await store.getSession(s.id, T0 + 200));
      const next = await Promise.all(steps.map((step) => store.refresh(refreshing(step.nextHash, T0 + 200))));
      assert.deepEqual(
        next.map((o) => o.kind),
        Array(5).fill('rotated'),
      );
    });

    test('an unknown token is invalid', async () => {
      const store = open();
      await opened(store);
      assert.deepEqual(await store.refresh(refreshing(hash(), T0)), { kind: 'invalid' });
    });

    test('a token unused for its idle lifetime expires, and its session with it', async () => {
      const store = open();
      const { s, first } = await opened(store, { idle_expires_at: T0 + 1000 });
      assert.deepEqual(await store.refresh(refreshing(first, T0 + 1000)), { kind: 'invalid' });
      assert.equal(await store.getSession(s.id, T0 + 1000), null);
      assert.deepEqual(await store.listSessions(s.user_id, T0 + 1000), []);
    });

    test('use keeps a session alive, but never past its absolute expiry', async () => {
      const store = open();
      const { s, first } = await opened(store, { expires_at: T0 + 3000, idle_expires_at: T0 + 1000 });
      const a = refreshing(first, T0 + 900, { idleMs: 1000 });
      const b = refreshing(a.nextHash, T0 + 1800, { idleMs: 1000 });
      const c = refreshing(b.nextHash, T0 + 2700, { idleMs: 1000 });
      for (const step of [a, b, c]) assert.equal((await store.refresh(step)).kind, 'rotated');
      assert.equal((await store.getSession(s.id, T0 + 2999))?.idle_expires_at, T0 + 3000);
      assert.equal(await store.getSession(s.id, T0 + 3000), null);
      assert.deepEqual(await store.refresh(refreshing(c.nextHash, T0 + 3000)), { kind: 'invalid' });
    });

    test('revokes one session only for its owner', async () => {
      const store = open();
      const { s, first } = await opened(store);
      const until = T0 + 960_000;
      assert.equal(await store.revokeSession(s.id, { ownerId: randomUUID(), until, now: T0 }), null);
      assert.ok(await store.getSession(s.id, T0));
      assert.equal(await store.revokeSession(s.id, { ownerId: s.user_id, until, now: T0 }), s.user_id);
      assert.equal(await store.getSession(s.id, T0), null);
      assert.deepEqual(await store.refresh(refreshing(first, T0 + 1)), { kind: 'invalid' });
      assert.equal(await store.revokeSession(s.id, { until, now: T0 }), null);
      assert.equal(await store.revokeSession(randomUUID(), { until, now: T0 }), null);
      assert.deepEqual(await store.listRevocations(T0), [{ session_id: s.id, until }]);
    });

    test('revokes every session of a user except the current one', async () => {
      const store = open();
      const { s: current } = await opened(store);
      const others = [
        await opened(store, { user_id: current.user_id }),
        await opened(store, { user_id: current.user_id }),
      ];
      const stranger = await opened(store);
      const until = T0 + 960_000;
      const revoked = await store.revokeUserSessions(current.user_id, { exceptId: current.id, until, now: T0 });
      assert.deepEqual(revoked.sort(), others.map((o) => o.s.id).sort());
      assert.deepEqual(
        (await store.listSessions(current.user_id, T0)).map((x) => x.id),
        [current.id],
      );
      assert.ok(await store.getSession(stranger.s.id, T0));
      for (const o of others) assert.deepEqual(await store.refresh(refreshing(o.first, T0)), { kind: 'invalid' });
      assert.deepEqual(await store.revokeUserSessions(current.user_id, { until, now: T0 }), [current.id]);
      assert.deepEqual(await store.listSessions(current.user_id, T0), []);
    });

    test('lists revocations until they expire, then prunes them', async () => {
      const store = open();
      const a = await opened(store);
      const b = await opened(store);
      await store.revokeSession(a.s.id, { until: T0 + 1000, now: T0 });
      await store.revokeSession(b.s.id, { until: T0 + 2000, now: T0 });
      const byId = (x: { session_id: string }, y: { session_id: string }) => (x.session_id < y.session_id ? -1 : 1);
      assert.deepEqual(
        (await store.listRevocations(T0 + 500)).sort(byId),
        [
          { session_id: a.s.id, until: T0 + 1000 },
          { session_id: b.s.id, until: T0 + 2000 },
        ].sort(byId),
      );
      assert.deepEqual(await store.listRevocations(T0 + 1000), [{ session_id: b.s.id, until: T0 + 2000 }]);
      // Pruned, not merely hidden: an earlier clock does not bring it back.
      assert.deepEqual(await store.listRevocations(T0), [{ session_id: b.s.id, until: T0 + 2000 }]);
      assert.deepEqual(await store.listRevocations(T0 + 2000), []);
    });

    test('of two concurrent first keys exactly one becomes active; rotation is a compare-and-set', async () => {
      const store = open();
      const [a, b] = [storedKey(), storedKey()];
      const wins = await Promise.all([store.activateKey(a, null, T0), store.activateKey(b, null, T0)]);
      assert.deepEqual(wins.sort(), [false, true]);
      const [first] = await store.listKeys();
      assert.equal((await store.listKeys()).length, 1);
      assert.equal(first?.retired_at, null);

      const next = storedKey();
      assert.equal(await store.activateKey(storedKey(), 'not-the-active-kid', T0 + 5), false);
      assert.equal(await store.activateKey(next, first?.kid ?? null, T0 + 10), true);
      const keys = await store.listKeys();
      assert.deepEqual(
        keys.find((k) => k.kid === next.kid),
        next,
      );
      assert.equal(keys.find((k) => k.kid === first?.kid)?.retired_at, T0 + 10);

      await store.deleteKey(next.kid); // the active key is never deleted
      await store.deleteKey(first?.kid ?? '');
      assert.deepEqual(await store.listKeys(), [next]);
    });

    test('two key services starting at once agree on one active key', async () => {
      const store = open();
      const secretKey = randomBytes(32);
      const log = createLogger({ service: 'test', level: 'silent' });
      const make = () =>
        new KeyService({ store, secretKey, alg: 'ES256', rotationDays: 30, accessTokenTtl: 900, now: () => T0, log });
      const [x, y] = [make(), make()];
      await Promise.all([x.start(), y.start()]);
      const keys = await store.listKeys();
      assert.equal(keys.length, 1);
      assert.deepEqual(await x.jwks(), await y.jwks());
      assert.equal((await x.jwks())[0]?.kid, keys[0]?.kid);
    });
  });
}

function storedKey(): StoredKey {
  const kid = randomBytes(8).toString('base64url');
  return {
    kid,
    alg: 'ES256',
    created_at: T0,
    retired_at: null,
    public_jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid, alg: 'ES256', use: 'sig' },
    sealed_private: 'v1.sealed',
  };
}
