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

    test('hitAndPeek counts one key and reads another in one call', async () => {
      const store = open();
      const [hitKey, peekKey] = [unique(), unique()];
      await store.hit(peekKey, 60_000);
      await store.hit(peekKey, 60_000);
      const [hit, peek] = await store.hitAndPeek(hitKey, 60_000, peekKey);
      assert.equal(hit.count, 1);
      assert.equal(peek.count, 2);
      assert.ok(peek.resetInMs > 0);
      const [, none] = await store.hitAndPeek(hitKey, 60_000, unique());
      assert.deepEqual(none, { count: 0, resetInMs: 0 });
      assert.equal((await store.peek(hitKey)).count, 2);
      assert.equal((await store.peek(peekKey)).count, 2, 'the peeked key is not counted');
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
