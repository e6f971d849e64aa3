import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOptions } from '@node-rs/argon2';
import { createPasswords } from './passwords.ts';

const CHEAP = { memoryCost: 8192, timeCost: 1, parallelism: 1 };

test('hashes with argon2id at the configured cost, with a fresh salt each time', async () => {
  const passwords = await createPasswords(CHEAP);
  const a = await passwords.hash('same password');
  const b = await passwords.hash('same password');
  assert.match(a, /^\$argon2id\$v=19\$m=8192,t=1,p=1\$/);
  assert.notEqual(a, b);
  assert.equal(parseOptions(a).memoryCost, 8192);
});

test('verifies the right password and refuses a wrong one', async () => {
  const passwords = await createPasswords(CHEAP);
  const stored = await passwords.hash('right password');
  assert.equal(await passwords.verify(stored, 'right password'), true);
  assert.equal(await passwords.verify(stored, 'wrong password'), false);
  assert.equal(await passwords.verify(stored, ''), false);
});

test('a malformed stored hash matches nothing instead of throwing', async () => {
  const passwords = await createPasswords(CHEAP);
  assert.equal(await passwords.verify('not a hash', 'anything'), false);
  assert.equal(await passwords.verify('$argon2id$v=19$m=8192,t=1,p=1$broken', 'anything'), false);
});

test('the dummy verification answers false, whatever the password', async () => {
  const passwords = await createPasswords(CHEAP);
  assert.equal(await passwords.verifyDummy('anything'), false);
  assert.equal(await passwords.verifyDummy(''), false);
});

test('needs a rehash when any parameter differs from the configuration, or the hash is unreadable', async () => {
  const current = await createPasswords(CHEAP);
  assert.equal(current.needsRehash(await current.hash('pw')), false);
  for (const other of [
    { ...CHEAP, memoryCost: 9216 },
    { ...CHEAP, timeCost: 2 },
    { ...CHEAP, parallelism: 2 },
  ]) {
    const older = await createPasswords(other);
    assert.equal(current.needsRehash(await older.hash('pw')), true, JSON.stringify(other));
  }
  assert.equal(current.needsRehash('garbage'), true);
  // The same parameters in another spelling than the library's own still count as current.
  const [, , , params, salt, digest] = (await current.hash('pw')).split('$');
  const reordered = params!.split(',').reverse().join(',');
  assert.equal(current.needsRehash(`$argon2id$v=19$${reordered}$${salt}$${digest}`), false);
});
