import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { rateLimitStoreContract } from './rate-limit.store.contract.ts';
import { RedisRateLimitStore } from './rate-limit.store.ts';

const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `gh-test-${randomUUID()}:`;
after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});
rateLimitStoreContract('redis', () => new RedisRateLimitStore(redis, prefix), randomUUID);

test('counts on after Redis forgets its scripts (a restart, SCRIPT FLUSH)', async () => {
  const store = new RedisRateLimitStore(redis, prefix);
  const key = randomUUID();
  assert.equal((await store.hit(key, 60_000)).count, 1);
  await redis.script('FLUSH');
  assert.equal((await store.hit(key, 60_000)).count, 2);
  const claimKey = randomUUID();
  const claim = { key: claimKey, windowMs: 60_000, limit: 5 };
  const [perIp, claimed] = await store.hitAndClaim({ key, windowMs: 60_000, limit: 100 }, claim);
  assert.equal(perIp.count, 3);
  assert.equal(claimed.count, 1);
  await redis.script('FLUSH');
  await store.refund(claimKey);
  assert.equal((await store.peek(claimKey)).count, 0);
});
