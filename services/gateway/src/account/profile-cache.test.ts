import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { userRecord } from '../app.test-support.ts';
import { ProfileCache } from './profile-cache.ts';

const P = 'project-1';
/** A user record whose name says which answer it is. */
const as = (name: string, fields = {}) => userRecord(`${name}@example.test`, { name, ...fields });
const nameOf = (cache: ProfileCache, userId: string) => cache.get(P, userId)?.name;

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('ProfileCache', () => {
  test('serves what was put until its TTL, and only for the project it was read in', () => {
    const c = clock();
    const cache = new ProfileCache({ ttlMs: 30_000, now: c.now });
    assert.equal(cache.get(P, 'u1'), undefined);
    cache.put(P, 'u1', as('one'), cache.ticket());
    assert.equal(nameOf(cache, 'u1'), 'one');
    assert.equal(cache.get('project-2', 'u1'), undefined);
    cache.put(P, 'u1', as('one'), cache.ticket());
    c.t += 29_999;
    assert.equal(nameOf(cache, 'u1'), 'one');
    c.t += 1;
    assert.equal(cache.get(P, 'u1'), undefined);
    assert.equal(cache.size, 0);
  });

  test('a drop takes the user out at once, and a fill ticketed before it is not kept', () => {
    const cache = new ProfileCache({ ttlMs: 30_000 });
    cache.put(P, 'u1', as('old'), cache.ticket());
    cache.put(P, 'u2', as('other'), cache.ticket());
    const before = cache.ticket(); // a fill of u1 begins ...
    cache.dropUser('u1'); // ... the user changes meanwhile ...
    assert.equal(cache.get(P, 'u1'), undefined);
    cache.put(P, 'u1', as('stale'), before); // ... and its (stale) answer arrives: not kept.
    assert.equal(cache.get(P, 'u1'), undefined);
    assert.equal(nameOf(cache, 'u2'), 'other', 'another user is untouched');
    // A fill of another user ticketed before the drop is still kept: drops are per user.
    cache.put(P, 'u3', as('fresh'), before);
    assert.equal(nameOf(cache, 'u3'), 'fresh');
    cache.put(P, 'u1', as('new'), cache.ticket());
    assert.equal(nameOf(cache, 'u1'), 'new');
  });

  test('clear (the bus was lost) empties it and refuses every fill begun before', () => {
    const cache = new ProfileCache({ ttlMs: 30_000 });
    cache.put(P, 'u1', as('a'), cache.ticket());
    const before = cache.ticket();
    cache.clear();
    assert.equal(cache.get(P, 'u1'), undefined);
    cache.put(P, 'u2', as('b'), before);
    assert.equal(cache.get(P, 'u2'), undefined);
    assert.equal(cache.bytes, 0);
  });

  test('bounded by bytes: the oldest entries leave first', () => {
    const one = JSON.stringify(as('n0')).length * 2;
    const cache = new ProfileCache({ ttlMs: 30_000, maxBytes: 16 * one });
    for (let i = 0; i < 20; i++) cache.put(P, `u${i}`, as(`n${i % 10}`), cache.ticket());
    assert.equal(cache.size, 16);
    assert.ok(cache.bytes <= 16 * one);
    assert.equal(cache.get(P, 'u0'), undefined);
    assert.equal(nameOf(cache, 'u19'), 'n9');
    // One answer bigger than a sixteenth of the bound is not kept at all.
    cache.put(P, 'big', as('big', { metadata: { pad: 'x'.repeat(one) } }), cache.ticket());
    assert.equal(cache.get(P, 'big'), undefined);
  });

  test('TTL 0 turns it off', () => {
    const cache = new ProfileCache({ ttlMs: 0 });
    cache.put(P, 'u1', as('a'), cache.ticket());
    assert.equal(cache.get(P, 'u1'), undefined);
  });

  test('prune forgets old drops but still refuses fills older than them', () => {
    const c = clock();
    const cache = new ProfileCache({ ttlMs: 30_000, now: c.now });
    const ancient = cache.ticket();
    cache.dropUser('u1');
    c.t += 61_000;
    cache.prune();
    cache.put(P, 'u1', as('stale'), ancient);
    assert.equal(cache.get(P, 'u1'), undefined);
    cache.put(P, 'u1', as('fresh'), cache.ticket());
    assert.equal(nameOf(cache, 'u1'), 'fresh');
  });
});
