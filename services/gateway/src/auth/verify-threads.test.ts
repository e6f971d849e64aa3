import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { VerifyThreads } from './verify-threads.ts';

const ISS = 'http://localhost:8080';

async function signer(kid: string, alg: 'ES256' | 'EdDSA' = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const sign = (sub: string, iss = ISS) =>
    new SignJWT({ sid: randomUUID() })
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(iss)
      .setSubject(sub)
      .setExpirationTime('15m')
      .sign(privateKey);
  return { jwk, sign };
}

test('a burst is checked on the threads, with the answers of the inline check', async () => {
  const es = await signer('k1');
  const ed = await signer('k2', 'EdDSA');
  const evil = await signer('k1');
  const threads = new VerifyThreads({ threads: 2, inlineWhenIdle: false });
  const inline = new VerifyThreads({ threads: 0 });
  try {
    for (const v of [threads, inline]) v.setKeys([es.jwk, ed.jwk], ISS);
    const good = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? es : ed).sign(`user-${i}`)));
    const bad = [
      await evil.sign('forged'), // another key under the same kid
      await es.sign('elsewhere', 'http://other.example'), // another issuer
      'not.a.jwt',
    ];
    const kids = [...good, ...bad].map(kidOf);
    const all = [...good, ...bad];
    const [onThreads, here] = await Promise.all(
      [threads, inline].map((v) => Promise.all(all.map((t, i) => v.check(kids[i], t)))),
    );
    assert.equal(threads.running, 2, 'the burst started both threads');
    assert.equal(inline.running, 0);
    assert.deepEqual(onThreads, here);
    assert.deepEqual(
      onThreads?.slice(0, good.length).map((p) => p?.sub),
      good.map((_, i) => `user-${i}`),
    );
    assert.deepEqual(onThreads?.slice(good.length), [null, null, null]);
  } finally {
    await threads.close();
    await inline.close();
  }
});

test('idle, a single check runs inline and starts no thread; new keys reach the threads', async () => {
  const k1 = await signer('k1');
  const k2 = await signer('k2');
  const v = new VerifyThreads({ threads: 1 });
  try {
    v.setKeys([k1.jwk], ISS);
    assert.equal((await v.check('k1', await k1.sign('a')))?.sub, 'a');
    assert.equal(v.running, 0);
    // Two in one turn: the second goes to a thread.
    const [t1, t2] = await Promise.all([k1.sign('b'), k1.sign('c')]);
    const both = await Promise.all([v.check('k1', t1), v.check('k1', t2)]);
    assert.deepEqual(
      both.map((p) => p?.sub),
      ['b', 'c'],
    );
    assert.equal(v.running, 1);
    const t3 = await k2.sign('d');
    const t4 = await k2.sign('e');
    const before = await Promise.all([v.check('k2', t3), v.check('k2', t4)]);
    assert.deepEqual(before, [null, null], 'an unknown key verifies nothing');
    v.setKeys([k1.jwk, k2.jwk], ISS);
    const after = await Promise.all([v.check('k2', t3), v.check('k2', t4)]);
    assert.deepEqual(
      after.map((p) => p?.sub),
      ['d', 'e'],
    );
  } finally {
    await v.close();
  }
});

test('a thread that dies: what it held is checked inline, and the next burst starts another', async () => {
  const k = await signer('k1');
  const v = new VerifyThreads({ threads: 1, inlineWhenIdle: false });
  try {
    v.setKeys([k.jwk], ISS);
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => k.sign(`u${i}`)));
    await Promise.all(tokens.map((t) => v.check('k1', t)));
    assert.equal(v.running, 1);
    const pending = Promise.all(tokens.map((t) => v.check('k1', t)));
    // The batch is sent on the next turn; kill the thread as it gets it.
    await new Promise((r) => setImmediate(r));
    await v.kill();
    const answers = await pending;
    assert.deepEqual(
      answers.map((p) => p?.sub),
      tokens.map((_, i) => `u${i}`),
    );
    assert.equal(v.running, 0);
    await Promise.all(tokens.slice(0, 4).map((t) => v.check('k1', t)));
    assert.equal(v.running, 1, 'a new thread for the next burst');
  } finally {
    await v.close();
  }
});

function kidOf(token: string): string | undefined {
  try {
    return (JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()) as { kid?: string }).kid;
  } catch {
    return undefined;
  }
}
