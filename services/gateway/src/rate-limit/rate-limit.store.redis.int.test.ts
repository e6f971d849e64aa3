import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { PrivateRedis } from '@gatehouse/kit/testing';
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
  const claims = [{ key: claimKey, windowMs: 60_000, limit: 5 }];
  const [perIp, claimed] = await store.hitAndClaim({ hit: { key, windowMs: 60_000, limit: 100 }, claims });
  assert.equal(perIp.count, 3);
  assert.equal(claimed.count, 1);
  await redis.script('FLUSH');
  await store.settle({ refund: [claimKey] });
  assert.equal((await store.peek(claimKey)).count, 0);
});

test("every script runs as the gateway's Redis user (gh:{rl}:* only, as infra/scripts/redis-users.mjs makes it)", async () => {
  const generator = readFileSync(new URL('../../../../infra/scripts/redis-users.mjs', import.meta.url), 'utf8');
  const rules = /gateway:\s*'([^']+)'/.exec(generator)?.[1];
  assert.ok(rules, 'the generator names the gateway user');
  const server = new PrivateRedis();
  await server.start();
  const admin = new Redis({ port: server.port, lazyConnect: true });
  const gateway = new Redis({ port: server.port, username: 'gateway', password: 'pw', lazyConnect: true });
  try {
    await admin.call('ACL', 'SETUSER', 'gateway', 'on', '>pw', ...rules.split(' '));
    const store = new RedisRateLimitStore(gateway);
    const now = Date.now();
    await store.settle({ remember: { devices: 'dev:a', id: 'd', now, expiresAt: now + 60_000, max: 3 } });
    const device = { devices: 'dev:a', id: 'd', now, claims: [{ key: 'lf:a:dev:d', windowMs: 60_000, limit: 2 }] };
    const claims = [{ key: 'lf:a:ip:x', windowMs: 60_000, limit: 2 }];
    const [, claim] = await store.hitAndClaim({ hit: { key: 'ip:x', windowMs: 60_000, limit: 9 }, claims, device });
    assert.deepEqual([claim.claimed, claim.known], [true, true]);
    await store.settle({ reset: ['lf:a:dev:d'], refund: ['lf:a:ip:x'] });
    assert.equal((await store.hit('ip:x', 60_000)).count, 2);
    // The same scripts outside gh:{rl}:* are refused.
    await assert.rejects(new RedisRateLimitStore(gateway, 'gh:s:').hit('x', 60_000), (err) =>
      isAppError(err, 'service_unavailable'),
    );
  } finally {
    admin.disconnect();
    gateway.disconnect();
    await server.destroy();
  }
});

test('keys stay under the prefix; the device set expires with its latest member', async () => {
  const mine = `gh-test-${randomUUID()}:`;
  const store = new RedisRateLimitStore(redis, mine);
  const now = Date.now();
  await store.settle({ remember: { devices: 'dev:acct', id: 'device-hash', now, expiresAt: now + 60_000, max: 3 } });
  await store.hitAndClaim({
    hit: { key: 'ip:192.0.2.1', windowMs: 60_000, limit: 10 },
    claims: [{ key: 'lf:acct:ip:192.0.2.1', windowMs: 60_000, limit: 10 }],
    device: {
      devices: 'dev:acct',
      id: 'device-hash',
      now,
      claims: [{ key: 'lf:acct:dev:x', windowMs: 60_000, limit: 1 }],
    },
  });
  const keys = (await redis.keys(`${mine}*`)).sort();
  assert.deepEqual(keys, [`${mine}dev:acct`, `${mine}ip:192.0.2.1`, `${mine}lf:acct:dev:x`]);
  const ttl = await redis.pttl(`${mine}dev:acct`);
  assert.ok(ttl > 0 && ttl <= 60_000, 'the device set expires with its latest member');
  await redis.del(...keys);
});
