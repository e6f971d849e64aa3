import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashRecoveryCode, newRecoveryCode, normalizeRecoveryCode } from './recovery-codes.ts';

test('a recovery code is four groups of four base32 characters: 80 random bits', () => {
  const codes = Array.from({ length: 200 }, newRecoveryCode);
  for (const code of codes) assert.match(code, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
  assert.equal(new Set(codes).size, codes.length);
  // 16 characters of a 32-letter alphabet: 16 × 5 = 80 bits.
  assert.equal(codes[0]?.replace(/-/g, '').length, 16);
});

test('a typed code is compared ignoring case, spaces, dashes and look-alike letters', () => {
  assert.equal(normalizeRecoveryCode('ab12-cd34-ef56-gh78'), 'ab12cd34ef56gh78');
  assert.equal(normalizeRecoveryCode(' AB12 CD34\tEF56-GH78 '), 'ab12cd34ef56gh78');
  assert.equal(normalizeRecoveryCode('OI1L-0000-0000-0000'), '0111000000000000');
  assert.equal(normalizeRecoveryCode('123456'), null);
  assert.equal(normalizeRecoveryCode('ab12-cd34-ef56-gh7u'), null);
});

test('the stored hash depends on the key and the user, not only on the code', () => {
  const key = Buffer.alloc(32, 1);
  const a = hashRecoveryCode(key, 'p', 'user-a', 'ab12cd34ef56gh78');
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(a, hashRecoveryCode(key, 'p', 'user-a', 'ab12cd34ef56gh78'));
  assert.notEqual(a, hashRecoveryCode(key, 'p', 'user-b', 'ab12cd34ef56gh78'));
  assert.notEqual(a, hashRecoveryCode(Buffer.alloc(32, 2), 'p', 'user-a', 'ab12cd34ef56gh78'));
});
