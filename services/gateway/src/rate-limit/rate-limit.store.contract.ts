import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RateLimitStore } from './rate-limit.store.ts';

/** What every rate-limit store must do; run against the memory and the Redis store. */
export function rateLimitStoreContract(name: string, open: () => RateLimitStore, unique: () => string): void {
  describe(`${name} rate-limit store contract`, () => {
    test('counts hits in a window and reports when it ends', async () => {
      const store = open();
      const key = unique();
      assert.equal((await store.hit(key, 60_000)).count, 1);
      const second = await store.hit(key, 60_000);
      assert.equal(second.count, 2);
      assert.ok(second.resetInMs > 0 && second.resetInMs <= 60_000);
      assert.equal((await store.peek(key)).count, 2);
    });

    test('a peek adds nothing, and an unknown key counts zero', async () => {
      const store = open();
      const key = unique();
      assert.equal((await store.peek(key)).count, 0);
      await store.hit(key, 60_000);
      await store.peek(key);
      assert.equal((await store.peek(key)).count, 1);
    });

    test('a window that ends starts the count again', async () => {
      const store = open();
      const key = unique();
      await store.hit(key, 50);
      await store.hit(key, 50);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal((await store.peek(key)).count, 0);
      assert.equal((await store.hit(key, 50)).count, 1);
    });

    test('hitAndClaim counts the hit and claims an attempt until the claim limit', async () => {
      const store = open();
      const [hitKey, claimKey] = [unique(), unique()];
      const hit = { key: hitKey, windowMs: 60_000, limit: 100 };
      const claims = [{ key: claimKey, windowMs: 60_000, limit: 2 }];
      const [h1, c1] = await store.hitAndClaim({ hit, claims });
      assert.equal(h1.count, 1);
      assert.equal(c1.claimed, true);
      assert.equal(c1.known, false);
      assert.equal(c1.count, 1);
      assert.ok(c1.resetInMs > 0 && c1.resetInMs <= 60_000);
      assert.equal((await store.hitAndClaim({ hit, claims }))[1].claimed, true);
      const [h3, c3] = await store.hitAndClaim({ hit, claims });
      assert.equal(h3.count, 3, 'the hit is counted even when the claim is refused');
      assert.equal(c3.claimed, false);
      assert.equal(c3.count, 2, 'a refused claim adds nothing');
      assert.ok(c3.resetInMs > 0);
      assert.equal((await store.peek(claimKey)).count, 2);
    });

    test('hitAndClaim claims nothing when the hit is over its own limit', async () => {
      const store = open();
      const [hitKey, claimKey] = [unique(), unique()];
      const hit = { key: hitKey, windowMs: 60_000, limit: 1 };
      const claims = [{ key: claimKey, windowMs: 60_000, limit: 5 }];
      assert.equal((await store.hitAndClaim({ hit, claims }))[1].claimed, true);
      const [h2, c2] = await store.hitAndClaim({ hit, claims });
      assert.equal(h2.count, 2);
      assert.equal(c2.claimed, false);
      assert.equal(c2.count, 1, "the first counter's state");
      assert.equal((await store.peek(claimKey)).count, 1);
    });

    test('hitAndClaim claims a group all or none, and reports the full counter that ends last', async () => {
      const store = open();
      const [pairA, pairB, shared] = [unique(), unique(), unique()];
      const hit = () => ({ key: unique(), windowMs: 60_000, limit: 100 });
      const group = (pair: string) => [
        { key: pair, windowMs: 60_000, limit: 2 },
        { key: shared, windowMs: 120_000, limit: 3 },
      ];
      assert.equal((await store.hitAndClaim({ hit: hit(), claims: group(pairA) }))[1].claimed, true);
      assert.equal((await store.hitAndClaim({ hit: hit(), claims: group(pairA) }))[1].claimed, true);
      // pairA is full: nothing is claimed, the shared counter included.
      const [, refused] = await store.hitAndClaim({ hit: hit(), claims: group(pairA) });
      assert.equal(refused.claimed, false);
      assert.equal(refused.count, 2);
      assert.ok(refused.resetInMs <= 60_000);
      assert.equal((await store.peek(shared)).count, 2);
      // Another pair has room until the shared counter is full.
      const [, third] = await store.hitAndClaim({ hit: hit(), claims: group(pairB) });
      assert.deepEqual([third.claimed, third.count], [true, 1], "the first counter's count after a claim");
      const [, over] = await store.hitAndClaim({ hit: hit(), claims: group(pairB) });
      assert.equal(over.claimed, false);
      assert.equal(over.count, 3, 'the shared counter is the full one');
      assert.ok(over.resetInMs > 60_000, 'and its window (the longer) is reported');
      assert.equal((await store.peek(pairB)).count, 1);
    });

    test('a known device claims its own group instead; an unknown, expired or foreign one does not', async () => {
      const store = open();
      const now = Date.now();
      const [devices, otherDevices, deviceCounter, fallback] = [unique(), unique(), unique(), unique()];
      await store.settle({ remember: { devices, id: 'dev-1', now, expiresAt: now + 60_000, max: 5 } });
      await store.settle({ remember: { devices, id: 'dev-old', now: now - 120_000, expiresAt: now - 1, max: 5 } });
      const request = (set: string, id: string) => ({
        hit: { key: unique(), windowMs: 60_000, limit: 100 },
        claims: [{ key: fallback, windowMs: 60_000, limit: 1 }],
        device: { devices: set, id, now, claims: [{ key: deviceCounter, windowMs: 60_000, limit: 2 }] },
      });
      const [, known] = await store.hitAndClaim(request(devices, 'dev-1'));
      assert.deepEqual([known.claimed, known.known], [true, true]);
      assert.equal((await store.peek(deviceCounter)).count, 1);
      assert.equal((await store.peek(fallback)).count, 0);
      for (const [set, id] of [
        [devices, 'dev-unknown'],
        [devices, 'dev-old'],
        [otherDevices, 'dev-1'],
      ] as const) {
        const [, stranger] = await store.hitAndClaim(request(set, id));
        assert.equal(stranger.known, false, `${set === devices ? '' : 'foreign '}${id}`);
      }
      assert.equal((await store.peek(fallback)).count, 1, 'the first stranger claimed the fallback; it is full now');
      // The fallback is full, the device is not: the device still gets its claim.
      assert.equal((await store.hitAndClaim(request(devices, 'dev-1')))[1].claimed, true);
      const [, deviceFull] = await store.hitAndClaim(request(devices, 'dev-1'));
      assert.deepEqual([deviceFull.claimed, deviceFull.known, deviceFull.count], [false, true, 2]);
    });

    test('concurrent claims never exceed the limit', async () => {
      const store = open();
      const claims = [{ key: unique(), windowMs: 60_000, limit: 7 }];
      const results = await Promise.all(
        Array.from({ length: 30 }, () =>
          store.hitAndClaim({ hit: { key: unique(), windowMs: 60_000, limit: 100 }, claims }),
        ),
      );
      assert.equal(results.filter(([, c]) => c.claimed).length, 7);
      assert.equal((await store.peek(claims[0]!.key)).count, 7);
    });

    test('settle: refund gives one claim back and never goes below zero; reset forgets', async () => {
      const store = open();
      const [key, other] = [unique(), unique()];
      await store.hit(key, 60_000);
      await store.hit(key, 60_000);
      await store.hit(other, 60_000);
      await store.settle({ refund: [key], reset: [other] });
      assert.equal((await store.peek(key)).count, 1);
      assert.equal((await store.peek(other)).count, 0);
      await store.settle({ refund: [key] });
      await store.settle({ refund: [key] });
      assert.equal((await store.peek(key)).count, 0);
      assert.equal((await store.hit(key, 60_000)).count, 1);
      await store.settle({});
    });

    test('settle remembers devices: renewed on use, at most `max` kept, the least recently renewed go', async () => {
      const store = open();
      const devices = unique();
      const now = Date.now();
      const remember = (id: string, at: number) =>
        store.settle({ remember: { devices, id, now: at, expiresAt: at + 60_000, max: 2 } });
      const knows = async (id: string) => {
        const claims = [{ key: unique(), windowMs: 60_000, limit: 5 }];
        const device = { devices, id, now: now + 10, claims };
        return (await store.hitAndClaim({ hit: { key: unique(), windowMs: 60_000, limit: 100 }, claims, device }))[1]
          .known;
      };
      await remember('a', now);
      await remember('b', now + 1);
      await remember('a', now + 2); // a renewed: b is now the least recent
      await remember('c', now + 3);
      assert.equal(await knows('a'), true);
      assert.equal(await knows('b'), false);
      assert.equal(await knows('c'), true);
    });

    test('concurrent hits are all counted', async () => {
      const store = open();
      const key = unique();
      const counts = await Promise.all(Array.from({ length: 25 }, () => store.hit(key, 60_000)));
      assert.deepEqual(
        counts.map((c) => c.count).sort((x, y) => x - y),
        Array.from({ length: 25 }, (_, i) => i + 1),
      );
    });
  });
}
