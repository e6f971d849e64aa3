import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { loadConfig } from './config.ts';
import { isSealedUnderPrimary, KeyRing, keyId, seal, sealedKeyId, UnsealError, unseal } from './sealed.ts';

/** The v1 format as earlier releases wrote it (no key id; the context alone as associated data). */
function sealV1(key: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body].map((p) => p.toString('base64url')).join('.');
}

const [oldKey, newKey, otherKey] = [randomBytes(32), randomBytes(32), randomBytes(32)];

test('a key id is a short non-secret fingerprint, the same for the same key', () => {
  assert.match(keyId(oldKey), /^[A-Za-z0-9_-]{11}$/);
  assert.equal(keyId(oldKey), keyId(Buffer.from(oldKey)));
  assert.notEqual(keyId(oldKey), keyId(newKey));
  assert.ok(!oldKey.toString('base64url').includes(keyId(oldKey)));
});

test('seal writes v2 with the primary key id; a ring opens what any of its keys sealed', () => {
  const sealedOld = seal(new KeyRing(oldKey), 'old secret', 'ctx:1');
  assert.match(sealedOld, /^v2\.[A-Za-z0-9_-]{11}\.[^.]+\.[^.]+\.[^.]+$/);
  assert.equal(sealedKeyId(sealedOld), keyId(oldKey));

  const ring = new KeyRing(newKey, [oldKey]);
  assert.equal(unseal(ring, sealedOld, 'ctx:1'), 'old secret');
  const sealedNew = seal(ring, 'new secret', 'ctx:1');
  assert.equal(sealedKeyId(sealedNew), keyId(newKey), 'new values are sealed under the primary');
  assert.equal(unseal(ring, sealedNew, 'ctx:1'), 'new secret');
  assert.equal(unseal(newKey, sealedNew, 'ctx:1'), 'new secret', 'a Buffer is a ring of one');
  assert.ok(isSealedUnderPrimary(ring, sealedNew));
  assert.ok(!isSealedUnderPrimary(ring, sealedOld));
});

test('the legacy v1 format still opens, under the primary or a previous key', () => {
  const legacy = sealV1(oldKey, 'from v1', 'ctx:2');
  assert.equal(unseal(oldKey, legacy, 'ctx:2'), 'from v1');
  assert.equal(unseal(new KeyRing(newKey, [otherKey, oldKey]), legacy, 'ctx:2'), 'from v1');
  assert.equal(sealedKeyId(legacy), null);
  assert.ok(!isSealedUnderPrimary(oldKey, legacy), 'v1 always needs re-sealing');
  assert.throws(() => unseal(new KeyRing(newKey), legacy, 'ctx:2'), UnsealError);
  assert.throws(() => unseal(oldKey, legacy, 'ctx:other'), UnsealError);
});

test('a value sealed under a key the ring does not hold fails cleanly, naming the key id', () => {
  const sealed = seal(otherKey, 'x', 'ctx');
  assert.throws(
    () => unseal(new KeyRing(newKey, [oldKey]), sealed, 'ctx'),
    (err: unknown) => err instanceof UnsealError && err.message.includes(keyId(otherKey)),
  );
});

test('a wrong context, a swapped key id, a truncated tag or junk fail with UnsealError', () => {
  const ring = new KeyRing(newKey, [oldKey]);
  const sealed = seal(ring, 'x', 'ctx');
  assert.throws(() => unseal(ring, sealed, 'ctx2'), UnsealError);
  // The kid is authenticated: claiming the other ring key does not open it.
  const parts = sealed.split('.');
  assert.throws(() => unseal(ring, [parts[0], keyId(oldKey), ...parts.slice(2)].join('.'), 'ctx'), UnsealError);
  const tag = Buffer.from(parts[3] as string, 'base64url')
    .subarray(0, 4)
    .toString('base64url');
  assert.throws(() => unseal(ring, [...parts.slice(0, 3), tag, parts[4]].join('.'), 'ctx'), UnsealError);
  for (const junk of ['', 'v2', 'v2.a.b.c', 'v3.a.b.c.d', 'plain text']) {
    assert.throws(() => unseal(ring, junk, 'ctx'), UnsealError, junk);
  }
});

test('a ring lists the primary first and drops duplicates; keys must be 32 bytes', () => {
  const ring = new KeyRing(newKey, [oldKey, Buffer.from(newKey), Buffer.from(oldKey)]);
  assert.deepEqual(ring.keys, [newKey, oldKey]);
  assert.equal(ring.primaryKid, keyId(newKey));
  assert.equal(ring.get(keyId(oldKey)), oldKey);
  assert.equal(ring.get('nope'), undefined);
  assert.throws(() => new KeyRing(randomBytes(16)));
});

test('SECRET_KEY_PREVIOUS is a comma-separated list of base64 keys', () => {
  assert.deepEqual(loadConfig({}).secretKeyPrevious, []);
  const config = loadConfig({
    SECRET_KEY: newKey.toString('base64'),
    SECRET_KEY_PREVIOUS: ` ${oldKey.toString('base64')} , ${otherKey.toString('base64')}`,
  });
  assert.deepEqual(config.secretKeyPrevious, [oldKey, otherKey]);
  assert.throws(() => loadConfig({ SECRET_KEY_PREVIOUS: 'c2hvcnQ=' }), /SECRET_KEY_PREVIOUS/);
});
