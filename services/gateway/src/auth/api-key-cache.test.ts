import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { API_KEY_CACHE_MS, ApiKeyCache, type KeyHolder } from './api-key-cache.ts';

const holder = (fields: Partial<KeyHolder> = {}): KeyHolder => ({
  keyId: randomUUID(),
  projectId: randomUUID(),
  userId: randomUUID(),
  role: 'user',
  expiresAt: null,
  ...fields,
});

describe('ApiKeyCache', () => {
  test('keeps an answer for a minute, and not past the key expiry', () => {
    let now = 1_000_000;
    const cache = new ApiKeyCache(() => now);
    const a = holder();
    cache.put('a', a, cache.epoch);
    assert.equal(cache.get('a'), cache.get('a'));
    assert.equal((cache.get('a') as KeyHolder).keyId, a.keyId);
    now += API_KEY_CACHE_MS;
    assert.equal(cache.get('a'), undefined, 'asked again after a minute');
    const b = holder({ expiresAt: now + 5_000 });
    cache.put('b', b, cache.epoch);
    now += 5_000;
    assert.equal(cache.get('b'), undefined, 'an expired key is not served from memory');
  });

  test('a revocation drops the key at once, and an answer fetched before it is not kept', () => {
    const cache = new ApiKeyCache();
    const a = holder();
    const before = cache.epoch;
    cache.revoke([a.keyId]);
    cache.put('a', a, before);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.isRevoked(a.keyId), true);
    // Even a fresh epoch cannot bring a revoked key back.
    cache.put('a', a, cache.epoch);
    assert.equal(cache.get('a'), undefined);

    const b = holder();
    cache.put('b', b, cache.epoch);
    cache.revoke([b.keyId]);
    assert.equal(cache.get('b'), undefined);
  });

  test('a change to the user drops all their keys and no other', () => {
    const cache = new ApiKeyCache();
    const userId = randomUUID();
    cache.put('a', holder({ userId }), cache.epoch);
    cache.put('b', holder({ userId }), cache.epoch);
    const other = holder();
    cache.put('c', other, cache.epoch);
    const racing = cache.epoch;
    cache.dropUser(userId);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('b'), undefined);
    assert.equal((cache.get('c') as KeyHolder).keyId, other.keyId);
    cache.put('a', holder({ userId }), racing);
    assert.equal(cache.get('a'), undefined, 'a lookup that raced the change is not kept');
    // A key refused while its user was banned is asked about again once the user changes.
    cache.refused('banned');
    cache.dropUser(userId);
    assert.equal(cache.get('banned'), undefined);
  });

  test('remembers refused keys for a while; clear forgets everything', () => {
    let now = 0;
    const cache = new ApiKeyCache(() => now);
    cache.refused('x');
    assert.equal(cache.get('x'), 'unknown');
    now += 30_000;
    assert.equal(cache.get('x'), undefined);
    cache.put('a', holder(), cache.epoch);
    cache.refused('x');
    cache.clear();
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('x'), undefined);
  });

  test('gathers the last use of each key for one batch', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const cache = new ApiKeyCache(() => now);
    const a = holder();
    cache.put('a', a, cache.epoch);
    now += 1000;
    cache.get('a');
    now += 1000;
    cache.get('a');
    assert.deepEqual(cache.takeUses(), [{ key_id: a.keyId, at: '2026-01-01T00:00:02.000Z' }]);
    assert.deepEqual(cache.takeUses(), []);
  });
});
