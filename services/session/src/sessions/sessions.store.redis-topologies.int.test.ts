// The session store on the Redis topologies users scale onto, started here on loopback: a Redis
// Cluster of three primaries (every script's keys in one slot, the store's whole contract), and a
// primary with a replica behind a Sentinel (a failover loses no session).
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRedis, type RedisClient } from '@gatehouse/kit';
import { PrivateRedisCluster, PrivateRedisSentinel } from '@gatehouse/kit/testing';
import { Redis } from 'ioredis';
import { sessionStoreContract } from './sessions.store.contract.ts';
import { RedisSessionStore } from './sessions.store.redis.ts';
import type { SessionRecord } from './sessions.store.ts';
import { childToken, firstToken, hashToken, refreshChainKey, shardOf } from './sessions.tokens.ts';

const CLIENT = { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 2000 };

async function ready(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise((resolve, reject) => {
    client.once('ready', resolve);
    setTimeout(() => reject(new Error('redis not ready in 10 s')), 10_000).unref();
  });
}

function session(userId: string, now: number): SessionRecord {
  return {
    id: randomUUID(),
    user_id: userId,
    project_id: randomUUID(),
    role: 'user',
    amr: ['pwd'],
    auth_time: Math.floor(now / 1000),
    created_at: now,
    last_used_at: now,
    expires_at: now + 3_600_000,
    idle_expires_at: now + 600_000,
    ip: null,
    user_agent: null,
  };
}

const cluster = new PrivateRedisCluster();
await cluster.start();
const clusterClient = createRedis({ redisUrl: cluster.url, redisTlsCa: undefined }, CLIENT);
await ready(clusterClient);
let stores = 0;
after(async () => {
  clusterClient.disconnect();
  await cluster.destroy();
});

sessionStoreContract('redis cluster', () => new RedisSessionStore(clusterClient, { prefix: `gh-${++stores}:` }));

describe('redis cluster', () => {
  test('the shards spread over every primary, and each user’s keys sit on one', async () => {
    const store = new RedisSessionStore(clusterClient, { prefix: 'gh-spread:' });
    const now = Date.now();
    const users = Array.from({ length: 40 }, () => randomUUID());
    for (const user of users) await store.createSession(session(user, now), randomBytes(32).toString('hex'));
    const perNode = await Promise.all(
      cluster.nodes.map(async (node) => {
        const direct = new Redis({ port: node.port, lazyConnect: true });
        try {
          return await direct.keys('gh-spread:*');
        } finally {
          direct.disconnect();
        }
      }),
    );
    for (const keys of perNode) assert.ok(keys.length > 0, 'every primary holds some shards');
    for (const user of users) {
      const holders = perNode.filter((keys) => keys.some((k) => k.startsWith(`gh-spread:{${shardOf(user)}}`)));
      assert.equal(holders.length, 1, 'a shard lives on one node');
    }
    assert.equal(perNode.flat().length, users.length * 4); // session, token record, family, user index
  });

  test('the revocation list gathers every shard’s, from every node', async () => {
    const store = new RedisSessionStore(clusterClient, { prefix: 'gh-revoked:' });
    const now = Date.now();
    const sessions = Array.from({ length: 12 }, () => session(randomUUID(), now));
    for (const s of sessions) await store.createSession(s, randomBytes(32).toString('hex'));
    for (const s of sessions) await store.revokeSession(s.id, { ownerId: s.user_id, until: now + 60_000, now });
    const listed = (await store.listRevocations(now)).map((r) => r.session_id).sort();
    assert.deepEqual(listed, sessions.map((s) => s.id).sort());
    assert.deepEqual(await store.listRevocations(now + 60_000), [], 'expired entries are pruned');
  });

  test('REDIS_URL names the cluster with credentials', async () => {
    // Not the default user's password: a wrong one is refused by every node.
    const wrong = createRedis(
      { redisUrl: cluster.url.replace('://', '://nobody:wrong@'), redisTlsCa: undefined },
      {
        ...CLIENT,
        lazyConnect: true,
      },
    );
    await assert.rejects(wrong.connect());
    wrong.disconnect();
  });
});

describe('redis sentinel', () => {
  const sentinel = new PrivateRedisSentinel();
  let client: RedisClient;
  before(async () => {
    await sentinel.start();
    client = createRedis({ redisUrl: sentinel.url, redisTlsCa: undefined }, CLIENT);
    await ready(client);
  });
  after(async () => {
    client?.disconnect();
    await sentinel.destroy();
  });

  test('a failover loses no session: the chain rotates on, revocations hold', async () => {
    const store = new RedisSessionStore(client);
    const chainKey = refreshChainKey(randomBytes(32));
    const now = Date.now();
    const s = session(randomUUID(), now);
    const other = session(randomUUID(), now);
    const first = firstToken(shardOf(s.user_id), randomBytes(32));
    await store.createSession(s, hashToken(first));
    await store.createSession(other, randomBytes(32).toString('hex'));
    await store.revokeSession(other.id, { ownerId: other.user_id, until: now + 60_000, now });
    const step = (token: string, at: number) => ({
      shard: shardOf(s.user_id),
      presentedHash: hashToken(token),
      childHash: hashToken(childToken(chainKey, token)),
      now: at,
      graceMs: 10_000,
      idleMs: 600_000,
      revokedUntil: at + 60_000,
    });
    assert.equal((await store.refresh(step(first, now))).kind, 'rotated');
    // Written on the replica too before the switch (asynchronous replication: Sentinel's own caveat).
    const primary = new Redis({ port: await sentinel.primaryPort(), lazyConnect: true });
    assert.equal(await primary.call('WAIT', '1', '5000'), 1);
    primary.disconnect();

    const before = await sentinel.primaryPort();
    await sentinel.failover();
    assert.notEqual(await sentinel.primaryPort(), before);
    // The client follows the new primary (it asks the Sentinel again); until then a call may fail fast.
    const second = childToken(chainKey, first);
    let outcome: Awaited<ReturnType<typeof store.refresh>> | undefined;
    const end = Date.now() + 20_000;
    while (!outcome && Date.now() < end) {
      outcome = await store.refresh(step(second, now + 1000)).catch(() => undefined);
      if (!outcome) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(outcome?.kind, 'rotated', 'the session and its chain survived the failover');
    assert.deepEqual(
      (await store.listRevocations(now + 1000)).map((r) => r.session_id),
      [other.id],
    );
    assert.equal(await store.getSession(other.user_id, other.id, now + 1000), null);
  });
});
