// The signing keys against the real Redis (TEST_REDIS_URL): what someone with
// write access to Redis can and cannot do to the JWKS, pruning across replicas
// with different ACCESS_TOKEN_TTLs, and a SECRET_KEY rotation.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { createLogger, KeyRing, type Logger, seal } from '@gatehouse/kit';
import { Redis } from 'ioredis';
import { createLocalJWKSet, decodeProtectedHeader, type JWK, jwtVerify, SignJWT } from 'jose';
import { RedisSessionStore } from '../sessions/sessions.store.redis.ts';
import { resealSigningKeys } from './keys.reseal.ts';
import { KeyService, type KeyServiceDeps } from './keys.service.ts';

const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const runPrefix = `gh-test-keys-${randomUUID()}:`;
let spaces = 0;
const silent = createLogger({ service: 'test', level: 'silent' });

after(async () => {
  const keys = await redis.keys(`${runPrefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const iat = () => Math.floor(Date.now() / 1000);
const claims = (at: number) => ({
  iss: 'https://auth.example.test',
  aud: '00000000-0000-7000-8000-000000000001',
  sub: '00000000-0000-7000-8000-000000000002',
  sid: '00000000-0000-7000-8000-000000000003',
  role: 'user' as const,
  amr: ['pwd'],
  auth_time: at,
  iat: at,
  exp: at + 900,
});

/** A key space of its own, and key services (replicas) over it. */
function space(overrides: Partial<KeyServiceDeps> = {}) {
  const prefix = `${runPrefix}${++spaces}:`;
  const clock = { now: Date.now() };
  const base: KeyServiceDeps = {
    store: new RedisSessionStore(redis, { prefix }),
    keyRing: new KeyRing(randomBytes(32)),
    alg: 'ES256',
    rotationDays: 30,
    accessTokenTtl: 900,
    now: () => clock.now,
    log: silent,
    ...overrides,
  };
  // Each replica its own client and store object, as separate processes would have.
  const replica = (more: Partial<KeyServiceDeps> = {}) =>
    new KeyService({ ...base, store: new RedisSessionStore(redis, { prefix }), ...more });
  return { prefix, clock, replica };
}

describe('signing keys in Redis', () => {
  test('a public_jwk replaced in Redis is not published: the key derived from the sealed private key is', async () => {
    const { prefix, replica } = space();
    const first = replica();
    await first.start();
    const [honest] = await first.jwks();
    assert.ok(honest);

    // Someone with Redis write access puts their own public key beside the sealed private key.
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
    const stored = JSON.parse((await redis.hget(`${prefix}{keys}:keys`, honest.kid)) as string);
    stored.public_jwk = { kty, crv, x, y, kid: honest.kid, alg: 'ES256', use: 'sig' };
    await redis.hset(`${prefix}{keys}:keys`, honest.kid, JSON.stringify(stored));

    const second = replica();
    await second.start();
    const published = await second.jwks();
    assert.deepEqual(published, [honest]);
    const jwks = createLocalJWKSet({ keys: published as JWK[] });
    await jwtVerify(await second.sign(claims(iat())), jwks, { algorithms: ['ES256'] });
    const forged = await new SignJWT(claims(iat()))
      .setProtectedHeader({ alg: 'ES256', kid: honest.kid, typ: 'JWT' })
      .sign(privateKey);
    await assert.rejects(jwtVerify(forged, jwks, { algorithms: ['ES256'] }), 'a token of the attacker does not verify');
  });

  test('a key sealed under another SECRET_KEY is not published (and is logged by kid)', async () => {
    const { prefix, clock, replica } = space();
    const errors: Record<string, unknown>[] = [];
    const log = Object.create(silent) as Logger;
    log.error = ((obj: Record<string, unknown>) => void errors.push(obj)) as Logger['error'];
    const honest = replica({ log });
    await honest.start();

    const kid = randomBytes(16).toString('base64url');
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const { kty, crv, x, y } = jwk;
    const foreign = {
      kid,
      alg: 'ES256',
      created_at: clock.now,
      public_jwk: { kty, crv, x, y, kid, alg: 'ES256', use: 'sig' },
      sealed_private: seal(new KeyRing(randomBytes(32)), JSON.stringify(jwk), `signing-key:${kid}`),
    };
    await redis.hset(`${prefix}{keys}:keys`, kid, JSON.stringify(foreign));
    await redis.hset(`${prefix}{keys}:keys:retired`, kid, clock.now);
    await redis.hset(`${prefix}{keys}:keys:publish_until`, kid, clock.now + 900_000);

    const kids = (await replica({ log }).jwks()).map((k) => k.kid);
    assert.equal(kids.length, 1);
    assert.ok(!kids.includes(kid));
    assert.ok(!(await honest.jwks(kid)).some((k) => k.kid === kid), 'not after a read-through either');
    assert.ok(errors.some((e) => e.kid === kid));
  });

  test('pruning follows the expiry recorded at retirement, not the pruning replica’s ACCESS_TOKEN_TTL', async () => {
    const { prefix, clock, replica } = space();
    const long = replica({ accessTokenTtl: 3600 });
    await long.start();
    const [old] = await long.jwks();
    assert.ok(old);
    const rotatedAt = clock.now;
    await long.rotate();
    assert.equal(
      await redis.hget(`${prefix}{keys}:keys:retired`, old.kid),
      String(rotatedAt),
      'the plain number, as before',
    );
    assert.equal(await redis.hget(`${prefix}{keys}:keys:publish_until`, old.kid), String(rotatedAt + 3_660_000));

    const short = replica({ accessTokenTtl: 900 });
    await short.start();
    clock.now += 960_001; // the short replica's lifetime and skew have passed; the long one's have not
    await short.rotateIfDue();
    assert.ok(await redis.hexists(`${prefix}{keys}:keys`, old.kid), 'still stored');
    assert.ok(
      (await short.jwks()).some((k) => k.kid === old.kid),
      'still published',
    );

    clock.now = rotatedAt + 3_660_000;
    await short.rotateIfDue();
    assert.equal(await redis.hexists(`${prefix}{keys}:keys`, old.kid), 0);
    assert.equal(await redis.hexists(`${prefix}{keys}:keys:publish_until`, old.kid), 0);
    assert.equal(await redis.hexists(`${prefix}{keys}:keys:retired`, old.kid), 0);
  });

  test('a key retired by an earlier release (retired_at only) is still read, and pruned by this replica’s lifetime', async () => {
    const { prefix, clock, replica } = space();
    const a = replica();
    await a.start();
    const [old] = await a.jwks();
    assert.ok(old);
    await a.rotate();
    await redis.hdel(`${prefix}{keys}:keys:publish_until`, old.kid); // as an earlier release left it
    const b = replica();
    await b.start();
    assert.ok((await b.jwks()).some((k) => k.kid === old.kid));
    clock.now += 960_000;
    await b.rotateIfDue();
    assert.equal(await redis.hexists(`${prefix}{keys}:keys`, old.kid), 0);
  });

  test('rotating SECRET_KEY: starts and signs with the old key in SECRET_KEY_PREVIOUS; after re-sealing, with the new key alone', async () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
    const { prefix, replica } = space({ keyRing: new KeyRing(oldKey) });
    const before = replica();
    await before.start();
    const [jwk] = await before.jwks();
    assert.ok(jwk);

    const during = replica({ keyRing: new KeyRing(newKey, [oldKey]) });
    await during.start();
    const token = await during.sign(claims(iat()));
    assert.equal(decodeProtectedHeader(token).kid, jwk.kid);
    await jwtVerify(token, createLocalJWKSet({ keys: (await during.jwks()) as JWK[] }));

    const outcomes = await resealSigningKeys(new RedisSessionStore(redis, { prefix }), new KeyRing(newKey, [oldKey]));
    assert.deepEqual(
      outcomes.map((o) => o.outcome),
      ['resealed'],
    );
    const after = replica({ keyRing: new KeyRing(newKey) });
    await after.start();
    assert.deepEqual(await after.jwks(), [jwk]);
    await jwtVerify(await after.sign(claims(iat())), createLocalJWKSet({ keys: [jwk] as JWK[] }));
    // The replica that was running picks the re-sealed value up on its next reload.
    await during.reload();
    assert.deepEqual(await during.jwks(jwk.kid), [jwk]);
  });
});
