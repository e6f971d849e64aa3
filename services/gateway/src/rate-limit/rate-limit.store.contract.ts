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
      const claim = { key: claimKey, windowMs: 60_000, limit: 2 };
      const [h1, c1] = await store.hitAndClaim(hit, claim);
      assert.equal(h1.count, 1);
      assert.equal(c1.claimed, true);
      assert.equal(c1.count, 1);
      assert.ok(c1.resetInMs > 0 && c1.resetInMs <= 60_000);
      assert.equal((await store.hitAndClaim(hit, claim))[1].claimed, true);
      const [h3, c3] = await store.hitAndClaim(hit, claim);
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
      const claim = { key: claimKey, windowMs: 60_000, limit: 5 };
      assert.equal((await store.hitAndClaim(hit, claim))[1].claimed, true);
      const [h2, c2] = await store.hitAndClaim(hit, claim);
      assert.equal(h2.count, 2);
      assert.equal(c2.claimed, false);
      assert.equal((await store.peek(claimKey)).count, 1);
    });

    test('concurrent claims never exceed the limit', async () => {
      const store = open();
      const claim = { key: unique(), windowMs: 60_000, limit: 7 };
      const results = await Promise.all(
        Array.from({ length: 30 }, () => store.hitAndClaim({ key: unique(), windowMs: 60_000, limit: 100 }, claim)),
      );
      assert.equal(results.filter(([, c]) => c.claimed).length, 7);
      assert.equal((await store.peek(claim.key)).count, 7);
    });

    test('refund gives one claim back and never goes below zero', async () => {
      const store = open();
      const key = unique();
      await store.hit(key, 60_000);
      await store.hit(key, 60_000);
      await store.refund(key);
      assert.equal((await store.peek(key)).count, 1);
      await store.refund(key);
      await store.refund(key);
      assert.equal((await store.peek(key)).count, 0);
      assert.equal((await store.hit(key, 60_000)).count, 1);
    });

    test('reset forgets the key', async () => {
      const store = open();
      const key = unique();
      await store.hit(key, 60_000);
      await store.reset(key);
      assert.equal((await store.peek(key)).count, 0);
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
