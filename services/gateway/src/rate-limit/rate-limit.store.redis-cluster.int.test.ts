// The rate limiter on a Redis Cluster (three primaries started here): a sign-in claims the
// counters of several keys in one script, so they share the prefix's hash tag, one slot.
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { createRedis } from '@gatehouse/kit';
import { PrivateRedisCluster } from '@gatehouse/kit/testing';
import { rateLimitStoreContract } from './rate-limit.store.contract.ts';
import { RedisRateLimitStore } from './rate-limit.store.ts';

const cluster = new PrivateRedisCluster();
await cluster.start();
const client = createRedis({ redisUrl: cluster.url, redisTlsCa: undefined }, { maxRetriesPerRequest: 1 });
after(async () => {
  client.disconnect();
  await cluster.destroy();
});
// The default prefix first (gh:{rl}:), then one of the test's own in the same form.
rateLimitStoreContract('redis cluster, default prefix', () => new RedisRateLimitStore(client), randomUUID);
rateLimitStoreContract(
  'redis cluster',
  () => new RedisRateLimitStore(client, `gh-test:{rl-${randomUUID()}}:`),
  randomUUID,
);
