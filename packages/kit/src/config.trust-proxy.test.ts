import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from './config.ts';

const trust = (value: string | undefined) => loadConfig({ TRUST_PROXY: value }).trustProxy;

test('TRUST_PROXY is off by default, and never "trust the client"', () => {
  assert.equal(trust(undefined), false);
  assert.equal(trust(''), false);
  assert.equal(trust('false'), false);
  assert.equal(trust('0'), false);
  // `true` is one hop (the load balancer in front), not every X-Forwarded-For entry.
  assert.equal(trust('true'), 1);
  assert.equal(trust('2'), 2);
});

test('TRUST_PROXY takes proxy addresses and CIDRs, and refuses anything else', () => {
  assert.deepEqual(trust('10.0.0.0/8, 192.0.2.1 ,fd00::/8,loopback'), [
    '10.0.0.0/8',
    '192.0.2.1',
    'fd00::/8',
    'loopback',
  ]);
  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'proxy.example.com', '10.0.0.1/8/2', '-1']) {
    assert.throws(() => trust(bad), /TRUST_PROXY/, bad);
  }
});
