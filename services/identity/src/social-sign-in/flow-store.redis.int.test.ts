import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { freePort } from '@gatehouse/kit/testing';
import { Redis } from 'ioredis';
import { flowStoreContract } from './flow-store.contract.ts';
import { RedisFlowStore } from './flow-store.ts';

const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const runPrefix = `gh-test-${randomUUID()}:`;
let stores = 0;

after(async () => {
  const keys = await redis.keys(`${runPrefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

flowStoreContract('redis', () => new RedisFlowStore(redis, { prefix: `${runPrefix}${++stores}:` }));

test('redis: keys hold a hash of the secret, never the secret, and expire by themselves', async () => {
  const prefix = `${runPrefix}keys:`;
  const store = new RedisFlowStore(redis, { prefix });
  const secret = 'the-state-value-sent-to-the-provider';
  await store.put('state', secret, 'v', 600);
  const keys = await redis.keys(`${prefix}*`);
  assert.equal(keys.length, 1);
  assert.ok(!keys[0]?.includes(secret));
  const ttl = await redis.ttl(keys[0] as string);
  assert.ok(ttl > 590 && ttl <= 600, String(ttl));
});

test('redis: a store whose Redis is down answers service_unavailable at once', async () => {
  const down = new Redis(`redis://127.0.0.1:${await freePort()}`, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  down.on('error', () => {});
  const store = new RedisFlowStore(down);
  await assert.rejects(store.put('state', 's', 'v', 60), (err) => isAppError(err, 'service_unavailable'));
  await assert.rejects(store.take('state', 's'), (err) => isAppError(err, 'service_unavailable'));
  down.disconnect();
});
