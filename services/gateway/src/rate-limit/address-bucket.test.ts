import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressBucket } from './address-bucket.ts';

test('IPv4 addresses are their own bucket', () => {
  assert.equal(addressBucket('203.0.113.7'), '203.0.113.7');
  assert.notEqual(addressBucket('203.0.113.7'), addressBucket('203.0.113.8'));
});

test('an IPv4-mapped IPv6 address counts as the IPv4 address', () => {
  assert.equal(addressBucket('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(addressBucket('::FFFF:203.0.113.7'), '203.0.113.7');
});

test('IPv6 addresses count by their /64, however they are written', () => {
  const a = addressBucket('2001:db8:1:2:aaaa:bbbb:cccc:dddd');
  assert.equal(a, '2001:db8:1:2::/64');
  assert.equal(addressBucket('2001:0db8:0001:0002::1'), a);
  assert.equal(addressBucket('2001:DB8:1:2:ffff::'), a);
  assert.equal(addressBucket('2001:db8:1:2::5%eth0'), a);
  assert.notEqual(addressBucket('2001:db8:1:3::1'), a);
  assert.equal(addressBucket('::1'), '0:0:0:0::/64');
  assert.equal(addressBucket('fe80::1'), 'fe80:0:0:0::/64');
  assert.equal(addressBucket('64:ff9b::192.0.2.33'), '64:ff9b:0:0::/64');
});

test('anything else is left as it is', () => {
  assert.equal(addressBucket('unknown'), 'unknown');
});
