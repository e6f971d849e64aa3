import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createClient, GatehouseError } from '../src/index.ts';

const answer =
  (status: number, body: string | null, headers: Record<string, string> = {}) =>
  async () =>
    new Response(body, { status, headers });

const failureOf = async (fetch: () => Promise<Response>) => {
  const client = createClient({ url: 'http://gatehouse.test', fetch, storage: 'memory', realtime: false });
  try {
    await client.login({ email: 'a@example.com', password: 'whatever' });
  } catch (err) {
    return err;
  }
  throw new Error('the call did not fail');
};

describe('errors', () => {
  test('the contract body: status, code, message and details', async () => {
    const body = JSON.stringify({
      error: 'validation_failed',
      message: 'email is not an email address',
      details: [{ field: 'email', message: 'must match format email' }],
    });
    const err = await failureOf(answer(400, body, { 'content-type': 'application/json' }));
    assert.ok(err instanceof GatehouseError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'GatehouseError');
    assert.equal(err.status, 400);
    assert.equal(err.code, 'validation_failed');
    assert.equal(err.message, 'email is not an email address');
    assert.deepEqual(err.details, [{ field: 'email', message: 'must match format email' }]);
    assert.ok(GatehouseError.is(err, 'validation_failed'));
    assert.ok(!GatehouseError.is(err, 'rate_limited'));
  });

  test('429 with Retry-After', async () => {
    const body = JSON.stringify({ error: 'rate_limited', message: 'too many attempts' });
    const err = await failureOf(answer(429, body, { 'retry-after': '42' }));
    assert.ok(GatehouseError.is(err, 'rate_limited'));
    assert.equal(err.status, 429);
    assert.equal(err.retryAfter, 42);
    assert.equal(err.details, undefined);
  });

  test('an answer without the error body (a proxy page) gets a code from its status', async () => {
    for (const [status, code] of [
      [502, 'internal'],
      [503, 'service_unavailable'],
      [404, 'not_found'],
      [413, 'payload_too_large'],
    ] as const) {
      const err = await failureOf(answer(status, '<html>Bad gateway</html>'));
      assert.ok(GatehouseError.is(err, code), `${status} -> ${code}`);
      assert.equal(err.status, status);
    }
  });

  test('a fetch that fails (offline, DNS, CORS) is network_error with status 0 and the cause', async () => {
    const cause = new TypeError('fetch failed');
    const err = await failureOf(() => Promise.reject(cause));
    assert.ok(GatehouseError.is(err, 'network_error'));
    assert.equal(err.status, 0);
    assert.equal(err.cause, cause);
  });

  test('a 2xx that is not JSON is internal', async () => {
    const err = await failureOf(answer(200, 'not json'));
    assert.ok(GatehouseError.is(err, 'internal'));
  });
});
