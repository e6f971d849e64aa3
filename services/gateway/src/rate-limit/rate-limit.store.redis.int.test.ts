import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
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
