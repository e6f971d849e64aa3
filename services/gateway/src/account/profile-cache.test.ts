import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProfileCache } from './profile-cache.ts';

const P = 'project-1';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('ProfileCache', () => {
  test('serves what was put until its TTL, and only for the project it was read in', () => {
    const c = clock();
    const cache = new ProfileCache({ ttlMs: 30_000, now: c.now });
    assert.equal(cache.get(P, 'u1'), undefined);
    cache.put(P, 'u1', '{"id":"u1"}', cache.ticket());
    assert.equal(cache.get(P, 'u1'), '{"id":"u1"}');
    assert.equal(cache.get('project-2', 'u1'), undefined);
    cache.put(P, 'u1', '{"id":"u1"}', cache.ticket());
    c.t += 29_999;
    assert.equal(cache.get(P, 'u1'), '{"id":"u1"}');
    c.t += 1;
    assert.equal(cache.get(P, 'u1'), undefined);
    assert.equal(cache.size, 0);
  });

  test('a drop takes the user out at once, and a fill ticketed before it is not kept', () => {
    const cache = new ProfileCache({ ttlMs: 30_000 });
    cache.put(P, 'u1', 'old', cache.ticket());
    cache.put(P, 'u2', 'other', cache.ticket());
    const before = cache.ticket(); // a fill of u1 begins ...
    cache.dropUser('u1'); // ... the user changes meanwhile ...
    assert.equal(cache.get(P, 'u1'), undefined);
    cache.put(P, 'u1', 'stale', before); // ... and its (stale) answer arrives: not kept.
    assert.equal(cache.get(P, 'u1'), undefined);
    assert.equal(cache.get(P, 'u2'), 'other', 'another user is untouched');
    // A fill of another user ticketed before the drop is still kept: drops are per user.
    cache.put(P, 'u3', 'fresh', before);
    assert.equal(cache.get(P, 'u3'), 'fresh');
    cache.put(P, 'u1', 'new', cache.ticket());
    assert.equal(cache.get(P, 'u1'), 'new');
  });

  test('clear (the bus was lost) empties it and refuses every fill begun before', () => {
    const cache = new ProfileCache({ ttlMs: 30_000 });
    cache.put(P, 'u1', 'a', cache.ticket());
    const before = cache.ticket();
    cache.clear();
    assert.equal(cache.get(P, 'u1'), undefined);
    cache.put(P, 'u2', 'b', before);
    assert.equal(cache.get(P, 'u2'), undefined);
    assert.equal(cache.bytes, 0);
  });

  test('bounded by bytes: the oldest entries leave first', () => {
    const cache = new ProfileCache({ ttlMs: 30_000, maxBytes: 16 * 200 });
    const body = 'x'.repeat(100); // 200 bytes as UTF-16
    for (let i = 0; i < 20; i++) cache.put(P, `u${i}`, body, cache.ticket());
    assert.equal(cache.size, 16);
    assert.ok(cache.bytes <= 16 * 200);
    assert.equal(cache.get(P, 'u0'), undefined);
    assert.equal(cache.get(P, 'u19'), body);
    // One answer bigger than a sixteenth of the bound is not kept at all.
    cache.put(P, 'big', 'x'.repeat(101), cache.ticket());
    assert.equal(cache.get(P, 'big'), undefined);
  });

  test('TTL 0 turns it off', () => {
    const cache = new ProfileCache({ ttlMs: 0 });
    cache.put(P, 'u1', 'a', cache.ticket());
    assert.equal(cache.get(P, 'u1'), undefined);
  });

  test('prune forgets old drops but still refuses fills older than them', () => {
    const c = clock();
    const cache = new ProfileCache({ ttlMs: 30_000, now: c.now });
    const ancient = cache.ticket();
    cache.dropUser('u1');
    c.t += 61_000;
    cache.prune();
    cache.put(P, 'u1', 'stale', ancient);
    assert.equal(cache.get(P, 'u1'), undefined);
    cache.put(P, 'u1', 'fresh', cache.ticket());
    assert.equal(cache.get(P, 'u1'), 'fresh');
  });
});
