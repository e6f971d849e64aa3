import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { flowStoreContract } from './flow-store.contract.ts';
import { MemoryFlowStore } from './flow-store.ts';

flowStoreContract('memory', () => new MemoryFlowStore());

test('memory: full of live flows, a new one is 503 and nothing is dropped; expired ones make room', async () => {
  let now = 0;
  const store = new MemoryFlowStore({ maxEntries: 2, now: () => now });
  await store.put('state', 'a', '1', 10);
  await store.put('state', 'b', '2', 60);
  await assert.rejects(store.put('state', 'c', '3', 60), (err) => isAppError(err, 'service_unavailable'));
  assert.equal(await store.take('state', 'a'), '1');
  await store.put('state', 'a', '1', 10);
  now = 11_000;
  await store.put('state', 'c', '3', 60);
  assert.equal(await store.take('state', 'b'), '2');
  assert.equal(await store.take('state', 'c'), '3');
});
