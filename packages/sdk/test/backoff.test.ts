import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelay } from '../src/index.ts';

describe('reconnect backoff', () => {
  test('exponential from the base, capped at the maximum, jitter within [d/2, d]', () => {
    const options = { baseMs: 500, maxMs: 30_000 };
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = Math.min(30_000, 500 * 2 ** attempt);
      const low = backoffDelay(attempt, options, () => 0);
      const high = backoffDelay(attempt, options, () => 0.999999);
      assert.equal(low, Math.round(ceiling / 2), `attempt ${attempt}: the lowest`);
      assert.ok(high <= ceiling && high >= ceiling * 0.99, `attempt ${attempt}: the highest`);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, options);
        assert.ok(d >= ceiling / 2 - 1 && d <= ceiling + 1, `attempt ${attempt}: ${d} within bounds`);
      }
    }
    assert.equal(
      backoffDelay(0, options, () => 0),
      250,
    );
    assert.equal(
      backoffDelay(3, options, () => 0),
      2000,
    );
    assert.ok(backoffDelay(1000, options) <= 30_000, 'a huge attempt count stays at the cap');
  });

  test('the defaults: 500 ms base, 30 s cap; random draws differ (jitter)', () => {
    assert.ok(backoffDelay(0) >= 250 && backoffDelay(0) <= 500);
    assert.ok(backoffDelay(100) <= 30_000 && backoffDelay(100) >= 15_000);
    const draws = new Set(Array.from({ length: 20 }, () => backoffDelay(6)));
    assert.ok(draws.size > 1, 'not every client waits the same');
  });
});
