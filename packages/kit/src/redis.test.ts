import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { createRedis, parseRedisUrl } from './redis.ts';

test('REDIS_URL: one server, as ioredis reads it', () => {
  assert.deepEqual(parseRedisUrl('redis://:pw@cache:6379/2'), { kind: 'standalone', url: 'redis://:pw@cache:6379/2' });
  assert.equal(parseRedisUrl('rediss://cache:6380').kind, 'standalone');
  assert.throws(() => parseRedisUrl('http://cache:6379'), /REDIS_URL/);
});

test('REDIS_URL: Sentinel, its sentinels, the primary name, credentials and options', () => {
  assert.deepEqual(
    parseRedisUrl('redis+sentinel://session:p%40ss@s1:26379,s2,[::1]:26380/mymaster?sentinel_password=sp&db=3'),
    {
      kind: 'sentinel',
      tls: false,
      nodes: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      username: 'session',
      password: 'p@ss',
      name: 'mymaster',
      sentinelPassword: 'sp',
      db: 3,
    },
  );
  assert.equal((parseRedisUrl('rediss+sentinel://s1/m') as { tls: boolean }).tls, true);
  assert.throws(() => parseRedisUrl('redis+sentinel://s1:26379'), /primary name/);
});

test('REDIS_URL: a Redis Cluster from any of its nodes', () => {
  assert.deepEqual(parseRedisUrl('rediss+cluster://:secret@n1:7000,n2:7001'), {
    kind: 'cluster',
    tls: true,
    nodes: [
      { host: 'n1', port: 7000 },
      { host: 'n2', port: 7001 },
    ],
    password: 'secret',
  });
  assert.throws(() => parseRedisUrl('redis+cluster://n1:7000/1'), /one database/);
});

test('each form makes its client, with the options applied to every node', () => {
  const lazy = { lazyConnect: true, commandTimeout: 1234 };
  const one = createRedis({ redisUrl: 'redis://127.0.0.1:1', redisTlsCa: undefined }, lazy);
  assert.ok(one instanceof Redis);
  const sentinel = createRedis({ redisUrl: 'redis+sentinel://:pw@127.0.0.1:1/m', redisTlsCa: undefined }, lazy);
  assert.ok(sentinel instanceof Redis);
  assert.equal(sentinel.options.name, 'm');
  assert.equal(sentinel.options.password, 'pw');
  assert.deepEqual(sentinel.options.sentinels, [{ host: '127.0.0.1', port: 1 }]);
  const cluster = createRedis(
    { redisUrl: 'redis+cluster://u:pw@127.0.0.1:1', redisTlsCa: undefined },
    {
      ...lazy,
      enableOfflineQueue: false,
    },
  );
  assert.ok(cluster instanceof Cluster);
  assert.equal(cluster.options.enableOfflineQueue, false);
  assert.equal(cluster.options.redisOptions?.commandTimeout, 1234);
  assert.equal(cluster.options.redisOptions?.username, 'u');
  for (const c of [one, sentinel, cluster]) c.disconnect();
});
