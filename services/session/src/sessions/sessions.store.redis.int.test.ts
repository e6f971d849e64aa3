import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Bus, createLogger, InProcessTransport, isAppError, loadConfig } from '@gatehouse/kit';
import { RecordingAuditSink } from '@gatehouse/kit/testing';
import { Redis } from 'ioredis';
import { startSession } from '../app.ts';
import { sessionStoreContract } from './sessions.store.contract.ts';
import { RedisSessionStore } from './sessions.store.redis.ts';
import { childToken, hashToken, refreshChainKey, shardOf } from './sessions.tokens.ts';

const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const runPrefix = `gh-test-${randomUUID()}:`;
let stores = 0;
/** Each store gets its own key space under this run's prefix, so revocation lists and keys start empty. */
const open = () => new RedisSessionStore(redis, { prefix: `${runPrefix}${++stores}:` });

after(async () => {
  const keys = await redis.keys(`${runPrefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

sessionStoreContract('redis', open);

describe('redis session store', () => {
  test('every session key it writes expires by itself', async () => {
    const prefix = `${runPrefix}ttl:`;
    const store = new RedisSessionStore(redis, { prefix });
    const now = Date.now();
    const s = {
      id: randomUUID(),
      user_id: randomUUID(),
      project_id: randomUUID(),
      role: 'user' as const,
      amr: ['pwd'],
      auth_time: Math.floor(now / 1000),
      created_at: now,
      last_used_at: now,
      expires_at: now + 60_000,
      idle_expires_at: now + 30_000,
      ip: null,
      user_agent: null,
    };
    const first = randomBytes(32).toString('hex');
    await store.createSession(s, first);
    const next = randomBytes(32).toString('hex');
    const shard = shardOf(s.user_id);
    const step = {
      shard,
      presentedHash: first,
      childHash: next,
      now,
      graceMs: 10_000,
      idleMs: 30_000,
      revokedUntil: now,
    };
    assert.equal((await store.refresh(step)).kind, 'rotated');
    // The same token again within the window: answered with the same child, no new record.
    assert.equal((await store.refresh({ ...step, now: now + 1 })).kind, 'current');
    const keys = await redis.keys(`${prefix}*`);
    assert.equal(keys.length, 5); // session, two token records, family, user index
    assert.deepEqual(await redis.smembers(`${prefix}{${shard}}sf:${s.id}`).then((f) => f.sort()), [first, next].sort());
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 60_000, `${key} has ttl ${ttl}`);
    }
    assert.ok(
      (await redis.pttl(`${prefix}{${shard}}s:${s.id}`)) <= 30_000,
      'the session lives as long as its newest token',
    );
  });

  test('an unreachable Redis is service_unavailable at once, not a hang', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    const store = new RedisSessionStore(down, { prefix: `${runPrefix}down:` });
    const started = Date.now();
    await assert.rejects(store.ping(), (err) => isAppError(err, 'service_unavailable'));
    await assert.rejects(store.listRevocations(Date.now()), (err) => isAppError(err, 'service_unavailable'));
    assert.ok(Date.now() - started < 1000);
    down.disconnect();
  });
});

describe('the layout of an earlier release (before shards and hash tags)', () => {
  /** What an earlier release wrote for one signed-in session, key by key (its REFRESH/CREATE scripts). */
  async function legacySession(P: string, now: number) {
    const userId = randomUUID();
    const sid = randomUUID();
    const token = randomBytes(32).toString('base64url'); // no shard in it
    const hash = hashToken(token);
    await redis.hset(`${P}s:${sid}`, {
      user_id: userId,
      project_id: randomUUID(),
      role: 'user',
      amr: '["pwd"]',
      auth_time: Math.floor(now / 1000),
      created_at: now,
      last_used_at: now,
      expires_at: now + 3_600_000,
      idle_expires_at: now + 600_000,
    });
    await redis.pexpire(`${P}s:${sid}`, 600_000);
    await redis.hset(`${P}rt:${hash}`, { sid, state: 'active', rotated_at: '0', expires_at: now + 600_000 });
    await redis.pexpire(`${P}rt:${hash}`, 600_000);
    await redis.sadd(`${P}sf:${sid}`, hash);
    await redis.pexpire(`${P}sf:${sid}`, 3_600_000);
    await redis.sadd(`${P}u:${userId}`, sid);
    return { userId, sid, token };
  }

  test('moves sessions, tokens, revocations and keys; an old token refreshes on, reuse is still caught', async () => {
    const P = `${runPrefix}legacy:`;
    const store = new RedisSessionStore(redis, { prefix: P });
    const now = Date.now();
    const a = await legacySession(P, now);
    const b = await legacySession(P, now);
    const revokedEarlier = randomUUID();
    await redis.zadd(`${P}revoked`, now + 60_000, revokedEarlier);
    await redis.hset(`${P}keys`, 'k1', '{"legacy":true}');
    await redis.set(`${P}keys:active`, 'k1');

    assert.equal(await store.migrateLegacyLayout(now), 2);
    assert.equal(await store.migrateLegacyLayout(now), 0, 'a second replica finds nothing left');
    for (const family of ['s', 'rt', 'sf', 'u']) assert.deepEqual(await redis.keys(`${P}${family}:*`), [], family);
    // Both users' sessions are theirs in the new layout, listed and revocable there.
    assert.deepEqual(
      (await store.listSessions(a.userId, now)).map((s) => s.id),
      [a.sid],
    );
    assert.equal(await redis.hget(`${P}{keys}:keys`, 'k1'), '{"legacy":true}');
    assert.equal(await redis.get(`${P}{keys}:keys:active`), 'k1');

    // The old token finds its shard, rotates into a token that names it, and stays one chain.
    const chainKey = refreshChainKey(randomBytes(32));
    const shard = await store.legacyShard(hashToken(a.token));
    assert.equal(shard, shardOf(a.userId));
    const child = childToken(chainKey, a.token, shard as string);
    const step = (token: string, at: number) => ({
      shard: shard as string,
      presentedHash: hashToken(token),
      childHash: hashToken(childToken(chainKey, token, shard as string)),
      now: at,
      graceMs: 10_000,
      idleMs: 600_000,
      revokedUntil: at + 60_000,
    });
    assert.equal((await store.refresh(step(a.token, now))).kind, 'rotated');
    assert.equal(child.slice(0, 3), `${shard}.`);
    assert.equal((await store.refresh(step(child, now + 1))).kind, 'rotated');
    const replay = await store.refresh(step(a.token, now + 20_000));
    assert.equal(replay.kind, 'reused', 'the old token after its window is reuse: the session ends');
    assert.deepEqual(await store.listSessions(a.userId, now + 20_000), []);

    // The earlier release's revocations are listed with the shards' until they expire.
    const listed = (await store.listRevocations(now + 20_000)).map((r) => r.session_id).sort();
    assert.deepEqual(listed, [a.sid, revokedEarlier].sort());
    // And sign-out everywhere reaches a moved session.
    assert.deepEqual(await store.revokeUserSessions(b.userId, { until: now + 60_000, now }), [b.sid]);
    assert.equal(await store.legacyShard(hashToken(randomBytes(32).toString('base64url'))), null);
  });

  test('the service takes an old token: refreshed into the new form, and a token it never issued is invalid_grant', async () => {
    const P = `${runPrefix}legacy-service:`;
    const store = new RedisSessionStore(redis, { prefix: P });
    const now = Date.now();
    const old = await legacySession(P, now);
    await store.migrateLegacyLayout(now);
    const bus = new Bus(new InProcessTransport(), createLogger({ service: 'test', level: 'silent' }), {
      timeoutMs: 2000,
    });
    await startSession({
      bus,
      sessionStore: store,
      keyStore: store,
      config: loadConfig({ PUBLIC_URL: 'https://auth.example.test' }),
      log: createLogger({ service: 'test', level: 'silent' }),
      secretKey: randomBytes(32),
      audit: new RecordingAuditSink(),
    });
    const tokens = await bus.request('session.session.refresh', { refresh_token: old.token });
    assert.equal(tokens.session_id, old.sid);
    assert.match(tokens.refresh_token, new RegExp(`^${shardOf(old.userId)}\\.`));
    assert.equal(
      (await bus.request('session.session.refresh', { refresh_token: tokens.refresh_token })).session_id,
      old.sid,
    );
    await assert.rejects(
      bus.request('session.session.refresh', { refresh_token: randomBytes(32).toString('base64url') }),
      (err) => isAppError(err, 'invalid_grant'),
    );
  });
});
