import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RevocationSet } from './revocations.ts';

test('holds a revoked id until no token can carry it, then forgets it', () => {
  let now = 1_000;
  const set = new RevocationSet(() => now);
  set.add('s1', 2_000);
  set.add('s1', 1_500); // an earlier until never shortens the entry
  assert.ok(set.has('s1'));
  assert.ok(!set.has('s2'));
  now = 1_999;
  assert.equal(set.prune(), 0);
  assert.ok(set.has('s1'));
  now = 2_000;
  assert.equal(set.prune(), 1);
  assert.ok(!set.has('s1'));
});
