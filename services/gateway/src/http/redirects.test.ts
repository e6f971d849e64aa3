import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { checkedRedirect, isAllowedRedirect, parseAllowlist } from './redirects.ts';

const allow = parseAllowlist(['http://app.test', 'https://shop.example/account/']);

test('an allowed origin admits any path on it', () => {
  assert.equal(isAllowedRedirect('http://app.test/cb', allow), true);
  assert.equal(isAllowedRedirect('http://app.test', allow), true);
  assert.equal(isAllowedRedirect('http://app.test/deep/path?x=1#frag', allow), true);
});

test('look-alike hosts, credentials, other schemes and ports are refused', () => {
  for (const target of [
    'http://app.test.evil.example/cb',
    'http://app.test@evil.example/cb',
    'http://user:pw@app.test/cb',
    'https://app.test/cb', // another scheme is another origin
    'http://app.test:8080/cb',
    'javascript:alert(1)',
    '//app.test/cb',
    '/relative',
    'not a url',
    'http://evil.example/http://app.test',
  ]) {
    assert.equal(isAllowedRedirect(target, allow), false, target);
  }
});

test('a path prefix matches whole segments only', () => {
  assert.equal(isAllowedRedirect('https://shop.example/account/verify', allow), true);
  assert.equal(isAllowedRedirect('https://shop.example/account/', allow), true);
  assert.equal(isAllowedRedirect('https://shop.example/accountant', allow), false);
  assert.equal(isAllowedRedirect('https://shop.example/', allow), false);
  assert.equal(isAllowedRedirect('https://shop.example/account/../admin', allow), false); // URL normalises the dots
});

test('checkedRedirect passes no value through and refuses a bad one with invalid_redirect', () => {
  assert.equal(checkedRedirect(undefined, allow), undefined);
  assert.equal(checkedRedirect('http://app.test/x', allow), 'http://app.test/x');
  assert.throws(
    () => checkedRedirect('http://evil.example/', allow),
    (err) => isAppError(err, 'invalid_redirect'),
  );
});

test('an allow-list entry that is not an http(s) URL fails at start', () => {
  assert.throws(() => parseAllowlist(['app.test']));
  assert.throws(() => parseAllowlist(['ftp://app.test']));
});
