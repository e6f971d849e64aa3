import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bareGateway } from '../app.test-support.ts';

// Per-IP limits are only as good as the address they count. Behind one trusted proxy the
// client is the rightmost X-Forwarded-For entry (the one the proxy appended); whatever the
// client wrote to the left of it is its own claim.

const guest = (app: Awaited<ReturnType<typeof bareGateway>>, forwardedFor: string, remoteAddress = '127.0.0.1') =>
  app.inject({ method: 'POST', url: '/auth/guest', headers: { 'x-forwarded-for': forwardedFor }, remoteAddress });

test('TRUST_PROXY=1: a client cannot pick its address by writing X-Forwarded-For', async () => {
  const app = await bareGateway({ TRUST_PROXY: '1', RATE_LIMIT_PER_IP_PER_MINUTE: '1' });
  try {
    // The first request gets past the limit (then fails on the empty bus); the second,
    // from the same client with a different claim on the left, is over the limit.
    assert.notEqual((await guest(app, '198.51.100.1, 203.0.113.9')).statusCode, 429);
    const second = await guest(app, '198.51.100.2, 203.0.113.9');
    assert.equal(second.statusCode, 429, second.body);
    // Another client behind the same proxy has its own count.
    assert.notEqual((await guest(app, '198.51.100.1, 203.0.113.10')).statusCode, 429);
  } finally {
    await app.close();
  }
});

test('TRUST_PROXY with CIDRs trusts only those proxies', async () => {
  const app = await bareGateway({ TRUST_PROXY: '10.0.0.0/8', RATE_LIMIT_PER_IP_PER_MINUTE: '1' });
  try {
    // From a trusted proxy: the client is the rightmost untrusted entry (another internal hop is skipped).
    assert.notEqual((await guest(app, '198.51.100.1, 203.0.113.20, 10.1.2.3', '10.0.0.5')).statusCode, 429);
    assert.equal((await guest(app, '198.51.100.7, 203.0.113.20', '10.0.0.6')).statusCode, 429);
    // Not from a trusted proxy: the header is ignored, the socket address counts.
    assert.notEqual((await guest(app, '203.0.113.20', '192.0.2.50')).statusCode, 429);
    assert.equal((await guest(app, '203.0.113.21', '192.0.2.50')).statusCode, 429);
  } finally {
    await app.close();
  }
});

test('IPv6 clients are counted by their /64', async () => {
  const app = await bareGateway({ TRUST_PROXY: '1', RATE_LIMIT_PER_IP_PER_MINUTE: '1' });
  try {
    assert.notEqual((await guest(app, '2001:db8:5:6::1')).statusCode, 429);
    assert.equal((await guest(app, '2001:db8:5:6:ffff:1:2:3')).statusCode, 429);
    assert.notEqual((await guest(app, '2001:db8:5:7::1')).statusCode, 429);
  } finally {
    await app.close();
  }
});
