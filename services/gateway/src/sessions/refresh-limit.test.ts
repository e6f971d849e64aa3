import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bareGateway } from '../app.test-support.ts';

test('POST /auth/refresh has a per-address limit of its own', async () => {
  const app = await bareGateway({ RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE: '3', RATE_LIMIT_PER_IP_PER_MINUTE: '1' });
  try {
    const refresh = (ip: string) =>
      app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'x' }, remoteAddress: ip });
    // Its own budget, not the sign-in one (1 per minute here): three go through to the (empty) bus.
    for (let i = 0; i < 3; i++) assert.equal((await refresh('192.0.2.1')).statusCode, 503);
    const over = await refresh('192.0.2.1');
    assert.equal(over.statusCode, 429);
    assert.equal((over.json() as { error: string }).error, 'rate_limited');
    assert.ok(Number(over.headers['retry-after']) >= 1);
    assert.equal((await refresh('192.0.2.2')).statusCode, 503, 'another address has its own count');
  } finally {
    await app.close();
  }
});
