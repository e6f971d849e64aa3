import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  apiKeyHash,
  isApiKeyShaped,
  isPublishableKeyShaped,
  isSecretKeyShaped,
  newApiKey,
  newProjectKeys,
} from './api-keys.ts';

test('project keys: pk_ and sk_ with 256 random bits each, new every time, each recognised by its own shape only', () => {
  const a = newProjectKeys();
  const b = newProjectKeys();
  assert.match(a.publishable_key, /^pk_[A-Za-z0-9_-]{43}$/);
  assert.match(a.secret_key, /^sk_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a.publishable_key, b.publishable_key);
  assert.notEqual(a.secret_key, b.secret_key);
  assert.notEqual(a.publishable_key.slice(3), a.secret_key.slice(3), 'the two halves are drawn separately');
  assert.ok(isPublishableKeyShaped(a.publishable_key) && !isPublishableKeyShaped(a.secret_key));
  assert.ok(isSecretKeyShaped(a.secret_key) && !isSecretKeyShaped(a.publishable_key));
  const { key } = newApiKey();
  assert.ok(isApiKeyShaped(key) && !isPublishableKeyShaped(key) && !isSecretKeyShaped(key));
  assert.ok(!isApiKeyShaped(a.secret_key));
  assert.ok(!isSecretKeyShaped(`${a.secret_key}x`) && !isSecretKeyShaped(a.secret_key.slice(0, -1)));
  assert.match(apiKeyHash(a.secret_key), /^[0-9a-f]{64}$/);
});
