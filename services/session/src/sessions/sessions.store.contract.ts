import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { createLogger, KeyRing } from '@gatehouse/kit';
import { KeyService } from '../keys/keys.service.ts';
import type { SigningKeyStore, StoredKey } from '../keys/keys.store.ts';
import type { RefreshInput, SessionRecord, SessionStore } from './sessions.store.ts';
import { childToken, firstToken, hashToken, refreshChainKey, shardOf, tokenShard } from './sessions.tokens.ts';

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;
const GRACE = 10_000;
const IDLE = 7 * DAY;
const MAX_AGE = 30 * DAY;

/** Refresh tokens as the service makes them: the first random (in its user's shard), each next one the child of the last. */
const CHAIN_KEY = refreshChainKey(randomBytes(32));
const token = (shard: string) => firstToken(shard, randomBytes(32));
const child = (t: string) => childToken(CHAIN_KEY, t);
/** The token `n` rotations below `t`. */
const descendant = (t: string, n: number): string => (n === 0 ? t : descendant(child(t), n - 1));

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

/** One refresh step presenting `presented`, as the service sends it (its hash and its child's hash). */
function refreshing(presented: string, now: number, extra: Partial<RefreshInput> = {}): RefreshInput {
  return {
    shard: tokenShard(presented) as string,
    presentedHash: hashToken(presented),
    childHash: hashToken(child(presented)),
    now,
    graceMs: GRACE,
    idleMs: IDLE,
    revokedUntil: now + 960_000,
    ...extra,
  };
}

/** Opens a session in `store` and returns it with its first refresh token. */
async function opened(store: SessionStore, overrides: Partial<SessionRecord> = {}) {
  const s = session(overrides);
  const first = token(shardOf(s.user_id));
  await store.createSession(s, hashToken(first));
  return { s, first };
}

/**
 * What every session store must do, run against the memory store and the
 * Redis store, which keep the signing keys too (their part is checked here as
 * well). `open` returns a store with nothing in it (its own key space).
 */
export function sessionStoreContract(name: string, open: () => SessionStore & SigningKeyStore): void {
  describe(`${name} session store contract`, () => {
    test('stores a session and lists a user’s live sessions newest first', async () => {
      const store = open();
      const { s: older } = await opened(store);
      const { s: newer } = await opened(store, { user_id: older.user_id, created_at: T0 + 1000, user_agent: 'ua' });
      await opened(store); // another user's
      assert.deepEqual(await store.getSession(older.user_id, older.id, T0 + 1), older);
      assert.deepEqual(
        (await store.listSessions(older.user_id, T0 + 2000)).map((x) => x.id),
        [newer.id, older.id],
      );
      assert.equal(await store.getSession(older.user_id, randomUUID(), T0), null);
      // A session is found only as its owner's.
      assert.equal(await store.getSession(randomUUID(), older.id, T0 + 1), null);
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
      assert.equal((await store.refresh(refreshing(child(first), T0 + 6000))).kind, 'rotated');
    });

    test('within the grace window a rotated token gets its child again, nothing new; the window does not slide', async () => {
      const store = open();
      const { s, first } = await opened(store);
      assert.equal((await store.refresh(refreshing(first, T0))).kind, 'rotated');
      const again = await store.refresh(refreshing(first, T0 + 6000, { ip: '198.51.100.2' }));
      assert.equal(again.kind, 'current');
      assert.ok(again.kind === 'current');
      assert.equal(again.session.id, s.id);
      assert.equal(again.session.last_used_at, T0 + 6000);
      assert.equal(again.session.ip, '198.51.100.2');
      // The child was issued at the rotation: its idle deadline is not pushed out by the repeat.
      assert.equal(again.session.idle_expires_at, T0 + IDLE);
      assert.equal((await store.refresh(refreshing(first, T0 + GRACE))).kind, 'current');
      // Measured from the rotation, not from the repeats.
      const late = await store.refresh(refreshing(first, T0 + GRACE + 1));
      assert.deepEqual(late, { kind: 'reused', sessionId: s.id, userId: s.user_id, cause: 'replayed' });
    });

    test('after the window only the one chain lives on, and the parent again revokes the session', async () => {
      const store = open();
      const { s, first } = await opened(store);
      // Two tabs present the first token within the window: one rotation, one child.
      assert.equal((await store.refresh(refreshing(first, T0))).kind, 'rotated');
      assert.equal((await store.refresh(refreshing(first, T0 + 1000))).kind, 'current');
      // Later, the child rotates on, and so does its child: one chain.
      const [r1, r2, r3] = [1, 2, 3].map((n) => descendant(first, n)) as [string, string, string];
      assert.equal((await store.refresh(refreshing(r1, T0 + GRACE + 5))).kind, 'rotated');
      assert.equal((await store.refresh(refreshing(r2, T0 + 3 * GRACE))).kind, 'rotated');
      // The parent again: reuse. The session goes, and its one chain (now at r3) with it.
      const replay = await store.refresh(refreshing(first, T0 + 3 * GRACE + 1));
      assert.deepEqual(replay, { kind: 'reused', sessionId: s.id, userId: s.user_id, cause: 'replayed' });
      assert.deepEqual(await store.refresh(refreshing(r3, T0 + 3 * GRACE + 2)), { kind: 'invalid' });
      assert.equal(await store.getSession(s.user_id, s.id, T0 + 3 * GRACE + 2), null);
    });

    test('a tab that had moved on twice: the walk descends to the active token, windows per token', async () => {
      const store = open();
      const { s, first } = await opened(store);
      const [r1, r2] = [child(first), descendant(first, 2)];
      assert.equal((await store.refresh(refreshing(first, T0))).kind, 'rotated');
      assert.equal((await store.refresh(refreshing(r1, T0 + 1000))).kind, 'rotated');
      // The other tab still holds the first token: its child is rotated too, so step down.
      assert.deepEqual(await store.refresh(refreshing(first, T0 + 2000)), {
        kind: 'descend',
        sessionId: s.id,
        userId: s.user_id,
      });
      const found = await store.refresh(refreshing(r1, T0 + 2000));
      assert.equal(found.kind, 'current');
      assert.equal(found.kind === 'current' && found.session.id, s.id);
      // A descent writes nothing: r2 is still the active token and rotates normally.
      assert.equal((await store.refresh(refreshing(r2, T0 + GRACE + 1))).kind, 'rotated');
      // Each token's window runs from its own rotation: r1's (at T0 + 1000) is still open.
      assert.deepEqual(await store.refresh(refreshing(r1, T0 + GRACE + 1)), {
        kind: 'descend',
        sessionId: s.id,
        userId: s.user_id,
      });
      // The first token's window has closed.
      const late = await store.refresh(refreshing(first, T0 + GRACE + 1));
      assert.deepEqual(late, { kind: 'reused', sessionId: s.id, userId: s.user_id, cause: 'replayed' });
    });

    test('a long chain within one window: every rotated step descends, the active one is current', async () => {
      const store = open();
      const { s, first } = await opened(store);
      for (let n = 0; n < 9; n++) {
        assert.equal((await store.refresh(refreshing(descendant(first, n), T0 + n))).kind, 'rotated');
      }
      for (let n = 0; n < 8; n++) {
        const step = await store.refresh(refreshing(descendant(first, n), T0 + 100));
        assert.deepEqual(step, { kind: 'descend', sessionId: s.id, userId: s.user_id }, `step ${n}`);
      }
      assert.equal((await store.refresh(refreshing(descendant(first, 8), T0 + 100))).kind, 'current');
      assert.ok(await store.getSession(s.user_id, s.id, T0 + 100));
    });

    test('a chain that cannot be followed is treated as reuse: the session is revoked', async () => {
      const store = open();
      const other = await opened(store);
      assert.equal((await store.refresh(refreshing(other.first, T0))).kind, 'rotated');
      const broken = (s: SessionRecord) => ({
        kind: 'reused',
        sessionId: s.id,
        userId: s.user_id,
        cause: 'broken_chain',
      });

      // A rotated token, in its window, whose given child is not in the store (another chain key).
      const a = await opened(store);
      await store.refresh(refreshing(a.first, T0));
      const stranger = hashToken(childToken(refreshChainKey(randomBytes(32)), a.first));
      assert.deepEqual(await store.refresh(refreshing(a.first, T0 + 1, { childHash: stranger })), broken(a.s));
      assert.equal(await store.getSession(a.s.user_id, a.s.id, T0 + 1), null);
      assert.deepEqual(await store.refresh(refreshing(child(a.first), T0 + 2)), { kind: 'invalid' });

      // ... whose given child is another session's token: only the presented token's session goes.
      const b = await opened(store);
      await store.refresh(refreshing(b.first, T0));
      const foreign = hashToken(child(other.first));
      assert.deepEqual(await store.refresh(refreshing(b.first, T0 + 1, { childHash: foreign })), broken(b.s));
      assert.equal(await store.getSession(b.s.user_id, b.s.id, T0 + 1), null);
      assert.equal((await store.refresh(refreshing(child(other.first), T0 + 2))).kind, 'rotated');

      // An active token whose child already exists: never overwritten.
      const c = await opened(store);
      await store.refresh(refreshing(c.first, T0));
      const loop = hashToken(c.first);
      assert.deepEqual(await store.refresh(refreshing(child(c.first), T0 + 1, { childHash: loop })), broken(c.s));
      assert.equal(await store.getSession(c.s.user_id, c.s.id, T0 + 1), null);
    });

    test('refuses a refresh token replayed after the grace window and revokes the session', async () => {
      const store = open();
      const { s, first } = await opened(store);
      await store.refresh(refreshing(first, T0));
      const replay = await store.refresh(refreshing(first, T0 + GRACE + 1, { revokedUntil: T0 + 999_000 }));
      assert.deepEqual(replay, { kind: 'reused', sessionId: s.id, userId: s.user_id, cause: 'replayed' });
      assert.equal(await store.getSession(s.user_id, s.id, T0 + GRACE + 2), null);
      assert.deepEqual(await store.listSessions(s.user_id, T0 + GRACE + 2), []);
      // The legitimate holder's newer token dies with the family.
      assert.deepEqual(await store.refresh(refreshing(child(first), T0 + GRACE + 3)), { kind: 'invalid' });
      assert.deepEqual(await store.listRevocations(T0 + GRACE + 3), [{ session_id: s.id, until: T0 + 999_000 }]);
    });

    test('concurrent refreshes of one token: one rotates it, the others get the same child', async () => {
      const store = open();
      const { s, first } = await opened(store);
      const outcomes = await Promise.all(Array.from({ length: 5 }, () => store.refresh(refreshing(first, T0 + 100))));
      assert.deepEqual(outcomes.map((o) => o.kind).sort(), ['current', 'current', 'current', 'current', 'rotated']);
      for (const o of outcomes) assert.equal((o.kind === 'rotated' || o.kind === 'current') && o.session.id, s.id);
      // One child, so one rotation of it; the repeats of it are answered with its child.
      const next = await Promise.all(
        Array.from({ length: 5 }, () => store.refresh(refreshing(child(first), T0 + 200))),
      );
      assert.deepEqual(next.map((o) => o.kind).sort(), ['current', 'current', 'current', 'current', 'rotated']);
    });

    test('a token of another project is invalid, and nothing is written: its owner refreshes as before', async () => {
      const store = open();
      const { s, first } = await opened(store);
      const elsewhere = await store.refresh(refreshing(first, T0 + 1000, { projectId: randomUUID() }));
      assert.deepEqual(elsewhere, { kind: 'invalid' });
      const [listed] = await store.listSessions(s.user_id, T0 + 1000);
      assert.equal(listed?.last_used_at, T0, 'not even touched');
      const own = await store.refresh(refreshing(first, T0 + 2000, { projectId: s.project_id }));
      assert.equal(own.kind, 'rotated', 'not a reuse: the token was never rotated');
    });

    test('an unknown token is invalid', async () => {
      const store = open();
      await opened(store);
      assert.deepEqual(await store.refresh(refreshing(token('00'), T0)), { kind: 'invalid' });
    });

    test('a token unused for its idle lifetime expires, and its session with it', async () => {
      const store = open();
      const { s, first } = await opened(store, { idle_expires_at: T0 + 1000 });
      assert.deepEqual(await store.refresh(refreshing(first, T0 + 1000)), { kind: 'invalid' });
      assert.equal(await store.getSession(s.user_id, s.id, T0 + 1000), null);
      assert.deepEqual(await store.listSessions(s.user_id, T0 + 1000), []);
    });

    test('use keeps a session alive, but never past its absolute expiry', async () => {
      const store = open();
      const { s, first } = await opened(store, { expires_at: T0 + 3000, idle_expires_at: T0 + 1000 });
      for (const [n, at] of [T0 + 900, T0 + 1800, T0 + 2700].entries()) {
        assert.equal((await store.refresh(refreshing(descendant(first, n), at, { idleMs: 1000 }))).kind, 'rotated');
      }
      assert.equal((await store.getSession(s.user_id, s.id, T0 + 2999))?.idle_expires_at, T0 + 3000);
      assert.equal(await store.getSession(s.user_id, s.id, T0 + 3000), null);
      assert.deepEqual(await store.refresh(refreshing(descendant(first, 3), T0 + 3000)), { kind: 'invalid' });
    });

    test('revokes one session only for its owner', async () => {
      const store = open();
      const { s, first } = await opened(store);
      const until = T0 + 960_000;
      assert.equal(await store.revokeSession(s.id, { ownerId: randomUUID(), until, now: T0 }), null);
      assert.ok(await store.getSession(s.user_id, s.id, T0));
      assert.equal(await store.revokeSession(s.id, { ownerId: s.user_id, until, now: T0 }), s.user_id);
      assert.equal(await store.getSession(s.user_id, s.id, T0), null);
      assert.deepEqual(await store.refresh(refreshing(first, T0 + 1)), { kind: 'invalid' });
      assert.equal(await store.revokeSession(s.id, { ownerId: s.user_id, until, now: T0 }), null);
      assert.equal(await store.revokeSession(randomUUID(), { ownerId: s.user_id, until, now: T0 }), null);
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
      assert.ok(await store.getSession(stranger.s.user_id, stranger.s.id, T0));
      for (const o of others) assert.deepEqual(await store.refresh(refreshing(o.first, T0)), { kind: 'invalid' });
      assert.deepEqual(await store.revokeUserSessions(current.user_id, { until, now: T0 }), [current.id]);
      assert.deepEqual(await store.listSessions(current.user_id, T0), []);
    });

    test('lists revocations until they expire, then prunes them', async () => {
      const store = open();
      const a = await opened(store);
      const b = await opened(store);
      await store.revokeSession(a.s.id, { ownerId: a.s.user_id, until: T0 + 1000, now: T0 });
      await store.revokeSession(b.s.id, { ownerId: b.s.user_id, until: T0 + 2000, now: T0 });
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
      const wins = await Promise.all([store.activateKey(a, null, T0, T0), store.activateKey(b, null, T0, T0)]);
      assert.deepEqual(wins.sort(), [false, true]);
      const [first] = await store.listKeys();
      assert.equal((await store.listKeys()).length, 1);
      assert.equal(first?.retired_at, null);

      const next = storedKey();
      assert.equal(await store.activateKey(storedKey(), 'not-the-active-kid', T0 + 5, T0 + 5), false);
      assert.equal(await store.activateKey(next, first?.kid ?? null, T0 + 10, T0 + 99_000), true);
      const keys = await store.listKeys();
      assert.deepEqual(
        keys.find((k) => k.kid === next.kid),
        next,
      );
      assert.equal(keys.find((k) => k.kid === first?.kid)?.retired_at, T0 + 10);
      assert.equal(keys.find((k) => k.kid === first?.kid)?.publish_until, T0 + 99_000);

      await store.deleteKey(next.kid); // the active key is never deleted
      await store.deleteKey(first?.kid ?? '');
      assert.deepEqual(await store.listKeys(), [next]);
    });

    test('a stored key is re-sealed by compare-and-set on its sealed value', async () => {
      const store = open();
      const key = storedKey();
      await store.activateKey(key, null, T0, T0);
      assert.equal(await store.resealKey(key.kid, 'v1.not-what-is-stored', 'v2.other'), false);
      assert.equal(await store.resealKey('no-such-kid', key.sealed_private, 'v2.other'), false);
      assert.equal(await store.resealKey(key.kid, key.sealed_private, 'v2.resealed'), true);
      assert.deepEqual(await store.listKeys(), [{ ...key, sealed_private: 'v2.resealed' }]);
      assert.equal(await store.resealKey(key.kid, key.sealed_private, 'v2.again'), false);
    });

    test('two key services starting at once agree on one active key', async () => {
      const store = open();
      const keyRing = new KeyRing(randomBytes(32));
      const log = createLogger({ service: 'test', level: 'silent' });
      const make = () =>
        new KeyService({ store, keyRing, alg: 'ES256', rotationDays: 30, accessTokenTtl: 900, now: () => T0, log });
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
    publish_until: null,
    public_jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid, alg: 'ES256', use: 'sig' },
    sealed_private: 'v1.sealed',
  };
}
