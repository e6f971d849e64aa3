import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Jwk } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { TokenVerifier } from './token-verifier.ts';

const ISS = 'http://localhost:8080';
const AUD = '00000000-0000-7000-8000-000000000001';
const SUB = '0190f5a0-0000-7000-8000-0000000000aa';
const SID = '0190f5a0-0000-7000-8000-0000000000bb';

async function keyPair(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } as Jwk;
  const sign = (claims: Record<string, unknown>, exp: number, aud = AUD) =>
    new SignJWT({ sid: SID, role: 'user', amr: ['pwd'], auth_time: exp - 900, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(ISS)
      .setAudience(aud)
      .setSubject(SUB)
      .setIssuedAt(exp - 900)
      .setExpirationTime(exp)
      .sign(privateKey);
  return { jwk, sign };
}

const code = (c: string) => (err: unknown) => err instanceof AppError && err.code === c;

test('accepts a well-signed token and returns its claims', async () => {
  const k = await keyPair('k1');
  const verifier = new TokenVerifier({ issuer: ISS, source: async () => [k.jwk] });
  const claims = await verifier.verify(await k.sign({}, Math.floor(Date.now() / 1000) + 600), AUD);
  assert.equal(claims.sub, SUB);
  assert.equal(claims.sid, SID);
  assert.deepEqual(claims.amr, ['pwd']);
});

test('refuses a token signed by another key, a tampered one, and one for another audience', async () => {
  const good = await keyPair('k1');
  const evil = await keyPair('k1');
  const verifier = new TokenVerifier({ issuer: ISS, source: async () => [good.jwk] });
  const exp = Math.floor(Date.now() / 1000) + 600;
  await assert.rejects(verifier.verify(await evil.sign({}, exp), AUD), code('unauthorized'));
  const token = await good.sign({}, exp);
  const [h, p, s] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), role: 'admin' }));
  await assert.rejects(verifier.verify(`${h}.${forged.toString('base64url')}.${s}`, AUD), code('unauthorized'));
  await assert.rejects(verifier.verify(await good.sign({}, exp, 'other-project'), AUD), code('unauthorized'));
  await assert.rejects(verifier.verify('not.a.jwt', AUD), code('unauthorized'));
});

test('an expired token is token_expired, also once it was cached', async () => {
  const k = await keyPair('k1');
  let now = Date.now();
  const verifier = new TokenVerifier({ issuer: ISS, source: async () => [k.jwk], now: () => now });
  await assert.rejects(verifier.verify(await k.sign({}, Math.floor(now / 1000) - 5), AUD), code('token_expired'));
  const token = await k.sign({}, Math.floor(now / 1000) + 60);
  await verifier.verify(token, AUD);
  now += 61_000;
  await assert.rejects(verifier.verify(token, AUD), code('token_expired'));
});

test('reloads the keys when a token names a kid it has not seen (a rotation)', async () => {
  const k1 = await keyPair('k1');
  const k2 = await keyPair('k2');
  let published = [k1.jwk];
  let loads = 0;
  let now = Date.now();
  const askedFor: (string | undefined)[] = [];
  const verifier = new TokenVerifier({
    issuer: ISS,
    now: () => now,
    source: async (kid) => {
      loads++;
      askedFor.push(kid);
      return published;
    },
  });
  const exp = Math.floor(now / 1000) + 600;
  await verifier.verify(await k1.sign({}, exp), AUD);
  published = [k1.jwk, k2.jwk];
  now += 6_000;
  const claims = await verifier.verify(await k2.sign({}, exp), AUD);
  assert.equal(claims.sub, SUB);
  assert.equal(loads, 2);
  // The unknown kid is named, so the session service reads it through rather than answering from its cache.
  assert.deepEqual(askedFor, [undefined, 'k2']);
});

test('the published JWKS is served from memory, reloaded once a minute old or on a rotation', async () => {
  const k1 = await keyPair('k1');
  const k2 = await keyPair('k2');
  let now = Date.now();
  let calls = 0;
  let keys = [k1.jwk];
  const verifier = new TokenVerifier({
    issuer: ISS,
    now: () => now,
    source: async () => {
      calls++;
      return keys;
    },
  });
  assert.deepEqual(await verifier.jwks(), [k1.jwk]);
  for (let i = 0; i < 50; i++) await verifier.jwks();
  assert.equal(calls, 1, 'one load for many reads');
  keys = [k2.jwk, k1.jwk];
  now += 30_000;
  assert.deepEqual(await verifier.jwks(), [k1.jwk], 'not reloaded within the minute');
  await verifier.refreshKeys(); // what a rotation event does
  assert.deepEqual(await verifier.jwks(), [k2.jwk, k1.jwk]);
  keys = [k2.jwk];
  now += 61_000;
  assert.deepEqual(await verifier.jwks(), [k2.jwk], 'reloaded once a minute old');
  assert.equal(calls, 3);
});
