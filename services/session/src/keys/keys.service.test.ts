import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { createLogger, KeyRing, keyId, type Logger, seal, sealedKeyId, unseal } from '@gatehouse/kit';
import { createLocalJWKSet, decodeProtectedHeader, type JWK, jwtVerify, SignJWT } from 'jose';
import { MemorySessionStore } from '../sessions/sessions.store.memory.ts';
import { resealSigningKeys } from './keys.reseal.ts';
import { KeyService, type KeyServiceDeps } from './keys.service.ts';
import type { SigningKeyStore, StoredKey } from './keys.store.ts';

const DAY = 86_400_000;
const log = createLogger({ service: 'test', level: 'silent' });
const claims = (iat: number) => ({
  iss: 'https://auth.example.test',
  aud: '00000000-0000-7000-8000-000000000001',
  sub: '00000000-0000-7000-8000-000000000002',
  sid: '00000000-0000-7000-8000-000000000003',
  role: 'user' as const,
  amr: ['pwd'],
  auth_time: iat,
  iat,
  exp: iat + 900,
});

function setup(overrides: Partial<KeyServiceDeps> = {}) {
  const clock = { now: Date.UTC(2025, 0, 1) };
  const store = overrides.store ?? new MemorySessionStore();
  const deps: KeyServiceDeps = {
    store,
    keyRing: new KeyRing(randomBytes(32)),
    alg: 'ES256',
    rotationDays: 30,
    accessTokenTtl: 900,
    now: () => clock.now,
    log,
    ...overrides,
  };
  return { clock, store, deps, keys: new KeyService(deps) };
}

describe('signing keys', () => {
  for (const alg of ['ES256', 'EdDSA'] as const) {
    test(`an ${alg} token verifies against the JWKS with exactly the claims given`, async () => {
      const { keys } = setup({ alg });
      await keys.start();
      const given = claims(Math.floor(Date.now() / 1000));
      const token = await keys.sign(given);
      const header = decodeProtectedHeader(token);
      assert.equal(header.alg, alg);
      assert.equal(header.typ, 'JWT');
      const jwks = createLocalJWKSet({ keys: (await keys.jwks()) as JWK[] });
      const { payload } = await jwtVerify(token, jwks, { algorithms: [alg] });
      assert.deepEqual(payload, given);
    });
  }

  test('seals the private key at rest, bound to its kid', async () => {
    const { keys, store, deps } = setup();
    await keys.start();
    const [stored] = await store.listKeys();
    assert.ok(stored);
    assert.doesNotMatch(stored.sealed_private, /"d"/);
    assert.equal(sealedKeyId(stored.sealed_private), deps.keyRing.primaryKid);
    const jwk = JSON.parse(unseal(deps.keyRing, stored.sealed_private, `signing-key:${stored.kid}`));
    assert.equal(typeof jwk.d, 'string');
    assert.throws(() => unseal(deps.keyRing, stored.sealed_private, 'signing-key:other'));
  });

  test('rotates once the active key is older than the rotation period, and forgets it later', async () => {
    const { keys, store, clock } = setup();
    await keys.start();
    const [first] = await store.listKeys();
    clock.now += 30 * DAY - 1;
    assert.equal(await keys.rotateIfDue(), null);
    clock.now += 1;
    const kid = await keys.rotateIfDue();
    assert.ok(kid && kid !== first?.kid);
    assert.equal(decodeProtectedHeader(await keys.sign(claims(1))).kid, kid);
    assert.equal((await store.listKeys()).length, 2);
    clock.now += 960_000; // access-token lifetime plus skew
    await keys.rotateIfDue();
    assert.deepEqual(
      (await store.listKeys()).map((k) => k.kid),
      [kid],
    );
  });

  test('a start with another configured algorithm rotates to it', async () => {
    const { keys, store, deps } = setup();
    await keys.start();
    const edKeys = new KeyService({ ...deps, alg: 'EdDSA' });
    assert.ok(await edKeys.start());
    assert.equal(decodeProtectedHeader(await edKeys.sign(claims(1))).alg, 'EdDSA');
    assert.deepEqual((await store.listKeys()).map((k) => k.alg).sort(), ['ES256', 'EdDSA']);
  });

  test('a replica signs with the key another replica rotated to, within the recheck interval', async () => {
    const a = setup();
    const b = new KeyService({ ...a.deps });
    await Promise.all([a.keys.start(), b.start()]);
    const before = decodeProtectedHeader(await b.sign(claims(1))).kid;
    const rotated = await a.keys.rotate();
    assert.equal(decodeProtectedHeader(await b.sign(claims(1))).kid, before, 'cached until the recheck');
    a.clock.now += 30_001;
    assert.equal(decodeProtectedHeader(await b.sign(claims(1))).kid, rotated);
    assert.deepEqual((await b.jwks()).map((k) => k.kid).sort(), [before, rotated].sort());
  });

  test('makes a new key when the store lost its keys (a Redis restarted without persistence)', async () => {
    let inner = new MemorySessionStore();
    const store: SigningKeyStore = {
      listKeys: () => inner.listKeys(),
      activateKey: (key, expected, now, until) => inner.activateKey(key, expected, now, until),
      deleteKey: (kid) => inner.deleteKey(kid),
      resealKey: (kid, expected, sealed) => inner.resealKey(kid, expected, sealed),
    };
    const announced: string[] = [];
    const { keys, clock } = setup({ store, onActivated: async (kid) => void announced.push(kid) });
    await keys.start();
    inner = new MemorySessionStore();
    clock.now += 5_000; // the JWKS is re-read from the store every few seconds
    const [fresh] = await keys.jwks();
    assert.ok(fresh && fresh.kid !== announced[0]);
    assert.deepEqual(announced, [announced[0], fresh.kid]);
    assert.equal(decodeProtectedHeader(await keys.sign(claims(1))).kid, fresh.kid);
  });

  test('refuses to start with a SECRET_KEY that did not seal the keys', async () => {
    const { keys, store } = setup();
    await keys.start();
    const other = new KeyService({ ...setup().deps, store, keyRing: new KeyRing(randomBytes(32)) });
    await assert.rejects(other.start(), /cannot unseal signing key/);
  });
});

/** A store whose listKeys passes every key through `edit`: what someone with write access to Redis could do. */
function tampering(inner: SigningKeyStore, edit: (keys: StoredKey[]) => StoredKey[]): SigningKeyStore {
  return {
    listKeys: async () => edit(await inner.listKeys()),
    activateKey: (key, expected, now, until) => inner.activateKey(key, expected, now, until),
    deleteKey: (kid) => inner.deleteKey(kid),
    resealKey: (kid, expected, sealed) => inner.resealKey(kid, expected, sealed),
  };
}

/** A P-256 key pair that is not Gatehouse's: its public JWK and a signer. */
function attackerKey(kid: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const jwk = { kty: String(kty), crv, x, y, kid, alg: 'ES256', use: 'sig' as const };
  const sign = (c: Record<string, unknown>) =>
    new SignJWT(c).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).sign(privateKey);
  return { jwk, sign };
}

/** A logger that records its error lines (and drops everything else). */
function recordingLog(): { log: Logger; errors: { obj: Record<string, unknown>; msg: string }[] } {
  const errors: { obj: Record<string, unknown>; msg: string }[] = [];
  const recording = Object.create(log) as Logger;
  recording.error = ((obj: Record<string, unknown>, msg: string) => void errors.push({ obj, msg })) as Logger['error'];
  return { log: recording, errors };
}

/** A signing key sealed under `ring` (as a key service would make it), not yet in any store. */
function foreignKey(ring: KeyRing, at: number): StoredKey {
  const kid = randomBytes(16).toString('base64url');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = JSON.stringify(privateKey.export({ format: 'jwk' }));
  return {
    kid,
    alg: 'ES256',
    created_at: at,
    retired_at: null,
    publish_until: null,
    sealed_private: seal(ring, jwk, `signing-key:${kid}`),
  };
}

describe('the JWKS trusts only the sealed private keys', () => {
  test('a public key replaced in the store is not published: the one derived from the private key is', async () => {
    const a = setup();
    await a.keys.start();
    const [honest] = await a.keys.jwks();
    assert.ok(honest);
    const attacker = attackerKey(honest.kid);
    const store = tampering(a.store, (keys) => keys.map((k) => ({ ...k, public_jwk: attacker.jwk })));
    const replica = new KeyService({ ...a.deps, store });
    await replica.start();
    const published = await replica.jwks();
    assert.deepEqual(published, [honest]);
    assert.notEqual(published[0]?.x, attacker.jwk.x);
    const jwks = createLocalJWKSet({ keys: published as JWK[] });
    const iat = Math.floor(Date.now() / 1000);
    await jwtVerify(await replica.sign(claims(iat)), jwks, { algorithms: ['ES256'] });
    await assert.rejects(jwtVerify(await attacker.sign(claims(iat)), jwks, { algorithms: ['ES256'] }));
  });

  test('a key that does not open with SECRET_KEY is not published, and the error names its kid once', async () => {
    const { log: recording, errors } = recordingLog();
    const a = setup({ log: recording });
    await a.keys.start();
    const foreign = { ...foreignKey(new KeyRing(randomBytes(32)), a.clock.now), retired_at: a.clock.now };
    const store = tampering(a.store, (keys) => [...keys, { ...foreign, publish_until: a.clock.now + 900_000 }]);
    const replica = new KeyService({ ...a.deps, store, log: recording });
    await replica.start();
    const [active] = await a.store.listKeys();
    assert.deepEqual(
      (await replica.jwks()).map((k) => k.kid),
      [active?.kid],
    );
    a.clock.now += 5_000;
    await replica.jwks(); // re-read: the failure is remembered, not logged (or unsealed) again
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.obj.kid, foreign.kid);
  });

  test('a key stored as another algorithm than its private key is not published', async () => {
    const a = setup();
    await a.keys.start();
    const mislabeled = { ...foreignKey(a.deps.keyRing, a.clock.now), alg: 'EdDSA' as const, retired_at: a.clock.now };
    const store = tampering(a.store, (keys) => [...keys, { ...mislabeled, publish_until: a.clock.now + 900_000 }]);
    const replica = new KeyService({ ...a.deps, store });
    await replica.start();
    assert.ok(!(await replica.jwks()).some((k) => k.kid === mislabeled.kid));
  });

  test('the JWKS is served from memory, re-read every few seconds and at once for an unknown kid', async () => {
    const a = setup();
    let reads = 0;
    const store = tampering(a.store, (keys) => {
      reads++;
      return keys;
    });
    const keys = new KeyService({ ...a.deps, store });
    await keys.start();
    const [first] = await keys.jwks();
    const before = reads;
    for (let i = 0; i < 20; i++) await keys.jwks();
    assert.equal(reads, before, 'no store read within the interval');
    assert.equal((await keys.jwks(first?.kid))[0], first, 'a known kid is no reason to re-read');
    assert.equal(reads, before);

    // Another replica rotates; this one has not heard of it yet.
    const other = new KeyService({ ...a.deps });
    const rotated = await other.rotate();
    assert.ok(rotated);
    assert.ok(!(await keys.jwks()).some((k) => k.kid === rotated), 'cached');
    assert.ok(
      (await keys.jwks(rotated)).some((k) => k.kid === rotated),
      'read through for the unknown kid',
    );
    assert.equal(reads, before + 1);
    // The re-read opened only the new key: the old one's derived JWK is the same object.
    assert.equal(
      (await keys.jwks()).find((k) => k.kid === first?.kid),
      first,
    );
    a.clock.now += 5_000;
    await keys.jwks();
    assert.equal(reads, before + 2, 're-read once the cache is a few seconds old');
  });
});

describe('retired keys are published until their own recorded expiry', () => {
  test('a replica with a shorter ACCESS_TOKEN_TTL does not drop a key another replica still needs', async () => {
    const long = setup({ accessTokenTtl: 3600 });
    await long.keys.start();
    const [old] = await long.store.listKeys();
    assert.ok(old);
    await long.keys.rotate();
    const retired = (await long.store.listKeys()).find((k) => k.kid === old.kid);
    assert.equal(retired?.publish_until, (retired?.retired_at ?? 0) + 3_600_000 + 60_000);

    const short = new KeyService({ ...long.deps, accessTokenTtl: 900 });
    await short.start();
    long.clock.now += 960_000 + 1; // past the short replica's TTL and skew
    await short.rotateIfDue();
    assert.ok(
      (await long.store.listKeys()).some((k) => k.kid === old.kid),
      'still stored',
    );
    assert.ok(
      (await short.jwks()).some((k) => k.kid === old.kid),
      'still published',
    );

    long.clock.now += 3_600_000 - 900_000; // past the long replica's TTL and skew too
    await short.rotateIfDue();
    assert.ok(!(await long.store.listKeys()).some((k) => k.kid === old.kid), 'pruned');
    assert.ok(!(await short.jwks()).some((k) => k.kid === old.kid));
  });

  test('a key retired by an earlier release (no recorded expiry) falls back to this replica’s lifetime', async () => {
    const a = setup({ accessTokenTtl: 900 });
    await a.keys.start();
    const [old] = await a.store.listKeys();
    await a.keys.rotate();
    const store = tampering(a.store, (keys) =>
      keys.map((k) => (k.kid === old?.kid ? { ...k, publish_until: null } : k)),
    );
    const legacy = new KeyService({ ...a.deps, store });
    await legacy.start();
    a.clock.now += 960_000 - 1;
    assert.ok((await legacy.jwks()).some((k) => k.kid === old?.kid));
    a.clock.now += 1;
    await legacy.rotateIfDue();
    assert.ok(!(await a.store.listKeys()).some((k) => k.kid === old?.kid));
  });
});

describe('rotating SECRET_KEY', () => {
  test('with the old key in SECRET_KEY_PREVIOUS the service starts and signs; after re-sealing the new key alone opens', async () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
    const a = setup({ keyRing: new KeyRing(oldKey) });
    await a.keys.start();
    const [before] = await a.keys.jwks();

    const rotating = new KeyService({ ...a.deps, keyRing: new KeyRing(newKey, [oldKey]) });
    assert.equal(await rotating.start(), null, 'no new signing key: the existing one still opens');
    const token = await rotating.sign(claims(Math.floor(Date.now() / 1000)));
    assert.equal(decodeProtectedHeader(token).kid, before?.kid);
    await jwtVerify(token, createLocalJWKSet({ keys: (await rotating.jwks()) as JWK[] }));
    // Without the old key it would not start.
    await assert.rejects(new KeyService({ ...a.deps, keyRing: new KeyRing(newKey) }).start(), /cannot unseal/);

    const done = await resealSigningKeys(a.store, new KeyRing(newKey, [oldKey]));
    assert.deepEqual(done, [{ kid: before?.kid, outcome: 'resealed', from: keyId(oldKey) }]);
    assert.deepEqual(
      (await resealSigningKeys(a.store, new KeyRing(newKey))).map((d) => d.outcome),
      ['current'],
      'a second run has nothing left to do',
    );
    const alone = new KeyService({ ...a.deps, keyRing: new KeyRing(newKey) });
    await alone.start();
    assert.deepEqual(await alone.jwks(), [before]);
    assert.equal(decodeProtectedHeader(await alone.sign(claims(1))).kid, before?.kid);
  });

  test('re-sealing reports a key no ring key opens and leaves it alone', async () => {
    const a = setup();
    await a.keys.start();
    const foreign = foreignKey(new KeyRing(randomBytes(32)), a.clock.now);
    const [active] = await a.store.listKeys();
    await a.store.activateKey(foreign, active?.kid ?? null, a.clock.now, a.clock.now);
    const done = await resealSigningKeys(a.store, new KeyRing(randomBytes(32), [a.deps.keyRing.primary]));
    assert.deepEqual(
      done.map((d) => [d.kid, d.outcome]).sort(),
      [
        [active?.kid, 'resealed'],
        [foreign.kid, 'failed'],
      ].sort(),
    );
    assert.equal((await a.store.listKeys()).find((k) => k.kid === foreign.kid)?.sealed_private, foreign.sealed_private);
  });
});
