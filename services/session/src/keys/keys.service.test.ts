import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { createLogger, unseal } from '@gatehouse/kit';
import { createLocalJWKSet, decodeProtectedHeader, type JWK, jwtVerify } from 'jose';
import { MemorySessionStore } from '../sessions/sessions.store.memory.ts';
import { KeyService, type KeyServiceDeps } from './keys.service.ts';
import type { SigningKeyStore } from './keys.store.ts';

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
    secretKey: randomBytes(32),
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
    const jwk = JSON.parse(unseal(deps.secretKey, stored.sealed_private, `signing-key:${stored.kid}`));
    assert.equal(typeof jwk.d, 'string');
    assert.throws(() => unseal(deps.secretKey, stored.sealed_private, 'signing-key:other'));
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
      activateKey: (key, expected, now) => inner.activateKey(key, expected, now),
      deleteKey: (kid) => inner.deleteKey(kid),
    };
    const announced: string[] = [];
    const { keys } = setup({ store, onActivated: async (kid) => void announced.push(kid) });
    await keys.start();
    inner = new MemorySessionStore();
    const [fresh] = await keys.jwks();
    assert.ok(fresh && fresh.kid !== announced[0]);
    assert.deepEqual(announced, [announced[0], fresh.kid]);
    assert.equal(decodeProtectedHeader(await keys.sign(claims(1))).kid, fresh.kid);
  });

  test('refuses to start with a SECRET_KEY that did not seal the keys', async () => {
    const { keys, store } = setup();
    await keys.start();
    const other = new KeyService({ ...setup().deps, store, secretKey: randomBytes(32) });
    await assert.rejects(other.start(), /cannot unseal signing key/);
  });
});
