// The one contract every FlowStore backend must meet; run by the memory and the Redis test files.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { FlowStore } from './flow-store.ts';

const secret = () => randomBytes(32).toString('base64url');

/** Registers the FlowStore contract tests for the stores `open` makes (each one empty). */
export function flowStoreContract(backend: string, open: () => FlowStore): void {
  describe(`FlowStore contract on ${backend}`, () => {
    test('a value is taken once: the second take, and a take of an unknown secret, are null', async () => {
      const store = open();
      const s = secret();
      await store.put('state', s, '{"a":1}', 60);
      assert.equal(await store.take('state', s), '{"a":1}');
      assert.equal(await store.take('state', s), null);
      assert.equal(await store.take('state', secret()), null);
    });

    test('kinds are apart: a state is no exchange code', async () => {
      const store = open();
      const s = secret();
      await store.put('state', s, 'flow', 60);
      assert.equal(await store.take('exchange', s), null);
      assert.equal(await store.take('state', s), 'flow');
    });

    test('of two takes at once, exactly one gets the value', async () => {
      const store = open();
      const s = secret();
      await store.put('exchange', s, 'user', 60);
      const got = await Promise.all([store.take('exchange', s), store.take('exchange', s), store.take('exchange', s)]);
      assert.deepEqual(
        got.filter((v) => v !== null),
        ['user'],
      );
    });

    test('a value is gone after its time to live', async () => {
      const store = open();
      const s = secret();
      await store.put('exchange', s, 'user', 1);
      await new Promise((r) => setTimeout(r, 1_300));
      assert.equal(await store.take('exchange', s), null);
    });
  });
}
