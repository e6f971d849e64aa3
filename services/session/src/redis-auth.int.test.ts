// Redis locked down as docker-compose.yml runs it: the users (gateway, session, identity) and
// REDIS_URLs made by the shipped generator (infra/scripts/redis-users.mjs) on a private
// redis-server (--aclfile), and TLS with REDIS_TLS_CA. Clients are built as main.ts builds them
// (REDIS_URL + kit's redisOptions).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAppError, loadConfig, redisOptions } from '@gatehouse/kit';
import { freePort, makeTestCertificates, PrivateRedis } from '@gatehouse/kit/testing';
import { Redis } from 'ioredis';
import { RedisSessionStore } from './sessions/sessions.store.redis.ts';
import { shardOf } from './sessions/sessions.tokens.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GENERATOR = join(ROOT, 'infra/scripts/redis-users.mjs');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-auth-'));
const clients: Redis[] = [];

after(() => {
  for (const c of clients) c.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/** A client as session's main.ts makes it, from a REDIS_URL and REDIS_TLS_CA. */
function client(env: { REDIS_URL: string; REDIS_TLS_CA?: string }): Redis {
  const config = loadConfig(env);
  const redis = new Redis(config.redisUrl as string, {
    ...redisOptions(config),
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: () => 200,
  });
  redis.on('error', () => {});
  clients.push(redis);
  return redis;
}

/** A client that queues commands until ready (so a refusal is the server's answer, not "not connected"). */
function rawClient(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000 });
  redis.on('error', () => {});
  clients.push(redis);
  return redis;
}

/** Resolves when the client is ready; rejects with its first error (or after 5 s). */
function ready(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onError = (err: Error) => done(err);
    const timer = setTimeout(() => done(new Error('redis not ready after 5 s')), 5_000);
    redis.on('ready', onReady);
    redis.on('error', onError);
  });
}

const urlIn = (file: string) => (/^REDIS_URL=(.+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? '').trim();
const withoutCredentials = (url: string) => url.replace(/\/\/[^@]+@/, '//');

describe('Redis with the generated ACL users (as in docker-compose.yml)', () => {
  let redis: PrivateRedis;
  let gatewayUrl: string;
  let sessionUrl: string;
  let identityUrl: string;

  before(async () => {
    const port = await freePort();
    const out = join(dir, 'acl');
    execFileSync(process.execPath, [GENERATOR, '--out', out, '--host', '127.0.0.1', '--port', String(port)], {
      timeout: 20_000,
      stdio: 'ignore',
    });
    gatewayUrl = urlIn(join(out, 'gateway.env'));
    sessionUrl = urlIn(join(out, 'session.env'));
    identityUrl = urlIn(join(out, 'identity.env'));
    redis = new PrivateRedis({ port, args: ['--aclfile', join(out, 'users.acl')] });
    await redis.start();
  });
  after(() => redis.destroy());

  test('a client without credentials is refused, and the store maps that to service_unavailable', async () => {
    const anonymous = withoutCredentials(sessionUrl);
    assert.match(anonymous, /^redis:\/\/127\.0\.0\.1:\d+$/);
    await assert.rejects(rawClient(anonymous).get('gh:s:x'), /NOAUTH/);
    const store = new RedisSessionStore(client({ REDIS_URL: anonymous }));
    await assert.rejects(store.getSession(randomUUID(), randomUUID(), Date.now()), (err) =>
      isAppError(err, 'service_unavailable'),
    );
    await assert.rejects(store.listRevocations(Date.now()), (err) => isAppError(err, 'service_unavailable'));
  });

  test('a wrong password is refused', async () => {
    const wrong = sessionUrl.replace(/:([0-9a-f]+)@/, ':0000@');
    assert.notEqual(wrong, sessionUrl);
    await assert.rejects(ready(rawClient(wrong)), /WRONGPASS|invalid username-password/i);
  });

  test('the session user, from REDIS_URL, uses the session store', async () => {
    const session = client({ REDIS_URL: sessionUrl });
    await ready(session);
    // The default prefix, as main.ts: the user's patterns list the store's key names one by one,
    // so every key family is written here (this server is the test's own).
    const store = new RedisSessionStore(session);
    await store.ping();
    const now = Date.now();
    // Its start-up move of an earlier release's layout may SCAN (nothing to move here).
    assert.equal(await store.migrateLegacyLayout(now), 0);
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
    const [first, next] = [randomUUID(), randomUUID()];
    await store.createSession(s, first); // s:, rt:, sf:, u:
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
    assert.equal((await store.listSessions(s.user_id, now)).length, 1);
    assert.equal(await store.revokeSession(s.id, { ownerId: s.user_id, until: now + 60_000, now }), s.user_id); // revoked
    const revoked = (await store.listRevocations(now)).map((r) => r.session_id);
    assert.deepEqual(revoked, [s.id]);
    const key = { alg: 'ES256' as const, created_at: now, retired_at: null, publish_until: null, sealed_private: 'x' };
    assert.ok(await store.activateKey({ ...key, kid: 'k1' }, null, now, now)); // keys, keys:active
    assert.ok(await store.activateKey({ ...key, kid: 'k2' }, 'k1', now, now + 1)); // keys:retired, keys:publish_until
    const kids = (await store.listKeys()).map((k) => `${k.kid} ${k.retired_at}`).sort();
    assert.deepEqual(kids, [`k1 ${now}`, 'k2 null']);
    // Not the gateway's rate limits, nor identity's sign-in flows.
    await assert.rejects(session.get(`gh:{rl}:${randomUUID()}`), /NOPERM/);
    await assert.rejects(session.set(`gh:oauth:state:${randomUUID()}`, 'x'), /NOPERM/);
  });

  test('the gateway user reaches its rate-limit keys only: not the sessions, not the dangerous commands', async () => {
    const gateway = client({ REDIS_URL: gatewayUrl });
    await ready(gateway);
    assert.equal(await gateway.incr(`gh:{rl}:${randomUUID()}`), 1);
    await assert.rejects(gateway.hgetall('gh:{a7}s:someone'), /NOPERM/);
    await assert.rejects(gateway.hgetall('gh:s:someone'), /NOPERM/);
    await assert.rejects(gateway.set('gh:{keys}:keys', 'x'), /NOPERM/);
    const store = new RedisSessionStore(gateway);
    await assert.rejects(store.listRevocations(Date.now()), (err) => isAppError(err, 'service_unavailable'));
    for (const command of [['flushall'], ['keys', '*'], ['scan', '0'], ['config', 'get', '*'], ['acl', 'list']]) {
      await assert.rejects(gateway.call(command[0] as string, ...command.slice(1)), /NOPERM/, command.join(' '));
    }
  });

  test('the identity user reaches its sign-in flows only: not the rate limits, not the sessions', async () => {
    const identity = client({ REDIS_URL: identityUrl });
    await ready(identity);
    // What identity's RedisFlowStore sends: SET with EX, then GETDEL.
    const flow = `gh:oauth:state:${randomUUID()}`;
    assert.equal(await identity.set(flow, 'v', 'EX', 60), 'OK');
    assert.equal(await identity.getdel(flow), 'v');
    assert.equal(await identity.getdel(flow), null);
    await assert.rejects(identity.incr(`gh:{rl}:${randomUUID()}`), /NOPERM/);
    await assert.rejects(identity.hgetall('gh:{a7}s:someone'), /NOPERM/);
    await assert.rejects(identity.set('gh:{keys}:keys', 'x'), /NOPERM/);
    const store = new RedisSessionStore(identity);
    await assert.rejects(store.listRevocations(Date.now()), (err) => isAppError(err, 'service_unavailable'));
    for (const command of [['flushall'], ['keys', '*'], ['scan', '0'], ['config', 'get', '*'], ['acl', 'list']]) {
      await assert.rejects(identity.call(command[0] as string, ...command.slice(1)), /NOPERM/, command.join(' '));
    }
  });
});

describe('Redis over TLS', () => {
  let redis: PrivateRedis;
  let certs: ReturnType<typeof makeTestCertificates>;

  before(async () => {
    certs = makeTestCertificates(mkdtempSync(join(dir, 'certs-')));
    redis = new PrivateRedis({
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca },
      args: ['--requirepass', 'tls-pass'],
    });
    await redis.start();
  });
  after(() => redis.destroy());

  test('rediss:// with REDIS_TLS_CA (a private CA) and the password in the URL works', async () => {
    const r = client({ REDIS_URL: `rediss://:tls-pass@127.0.0.1:${redis.port}`, REDIS_TLS_CA: certs.ca });
    await ready(r);
    assert.equal(await r.ping(), 'PONG');
  });

  test('REDIS_TLS_CA implies TLS with a redis:// URL too', async () => {
    const r = client({ REDIS_URL: `redis://:tls-pass@127.0.0.1:${redis.port}`, REDIS_TLS_CA: certs.ca });
    await ready(r);
    assert.equal(await r.ping(), 'PONG');
  });

  test('without the CA the server is not trusted; in plain text it does not answer', async () => {
    const untrusted = rawClient(`rediss://:tls-pass@127.0.0.1:${redis.port}`);
    await assert.rejects(ready(untrusted), /certificate|self.signed|issuer/i);
    const plain = client({ REDIS_URL: `redis://:tls-pass@127.0.0.1:${redis.port}` });
    await assert.rejects(ready(plain));
  });
});
