import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { Redis } from 'ioredis';
import { sessionStoreContract } from './sessions.store.contract.ts';
import { RedisSessionStore } from './sessions.store.redis.ts';

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
    const step = { presentedHash: first, childHash: next, now, graceMs: 10_000, idleMs: 30_000, revokedUntil: now };
    assert.equal((await store.refresh(step)).kind, 'rotated');
    // The same token again within the window: answered with the same child, no new record.
    assert.equal((await store.refresh({ ...step, now: now + 1 })).kind, 'current');
    const keys = await redis.keys(`${prefix}*`);
    assert.equal(keys.length, 5); // session, two token records, family, user index
    assert.deepEqual(await redis.smembers(`${prefix}sf:${s.id}`).then((f) => f.sort()), [first, next].sort());
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 60_000, `${key} has ttl ${ttl}`);
    }
    assert.ok((await redis.pttl(`${prefix}s:${s.id}`)) <= 30_000, 'the session lives as long as its newest token');
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
