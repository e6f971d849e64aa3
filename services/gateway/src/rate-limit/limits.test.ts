import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '@gatehouse/kit';
import { SignInLimits } from './limits.ts';
import { MemoryRateLimitStore } from './rate-limit.store.ts';

const P = '00000000-0000-7000-8000-000000000001';
const limited = (err: unknown) => err instanceof AppError && err.code === 'rate_limited' && (err.retryAfter ?? 0) >= 1;

test('refuses the request over the per-IP limit with a Retry-After', async () => {
  const limits = new SignInLimits(new MemoryRateLimitStore(), {
    perIpPerMinute: 3,
    failuresPerAccount: 10,
    mailsPerAddressPerHour: 5,
  });
  for (let i = 0; i < 3; i++) await limits.hitIp('10.0.0.1');
  await assert.rejects(limits.hitIp('10.0.0.1'), limited);
  await limits.hitIp('10.0.0.2');
});

test('locks an account after too many failed attempts, whatever the case of the email', async () => {
  const limits = new SignInLimits(new MemoryRateLimitStore(), {
    perIpPerMinute: 100,
    failuresPerAccount: 2,
    mailsPerAddressPerHour: 5,
  });
  // Each attempt claims one of the account's two before its password is checked;
  // a failed password keeps the claim.
  await limits.beginPasswordSignIn('10.0.0.1', P, 'a@example.com');
  await limits.beginPasswordSignIn('10.0.0.2', P, ' A@Example.com ');
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.3', P, 'a@example.com'), limited);
  await limits.beginPasswordSignIn('10.0.0.3', P, 'b@example.com');
  // A success forgets the failures.
  await limits.clearFailures(P, 'A@example.com');
  await limits.beginPasswordSignIn('10.0.0.3', P, 'a@example.com');
});

test('an attempt that failed for another reason than the password is given back', async () => {
  const limits = new SignInLimits(new MemoryRateLimitStore(), {
    perIpPerMinute: 100,
    failuresPerAccount: 1,
    mailsPerAddressPerHour: 5,
  });
  await limits.beginPasswordSignIn('10.0.0.1', P, 'r@example.com');
  await limits.refundAttempt(P, 'r@example.com');
  await limits.beginPasswordSignIn('10.0.0.1', P, 'r@example.com');
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.1', P, 'r@example.com'), limited);
});

test('concurrent attempts on one account from many addresses never pass its limit', async () => {
  const limits = new SignInLimits(new MemoryRateLimitStore(), {
    perIpPerMinute: 100,
    failuresPerAccount: 5,
    mailsPerAddressPerHour: 5,
  });
  const outcomes = await Promise.allSettled(
    Array.from({ length: 40 }, (_, i) => limits.beginPasswordSignIn(`10.1.0.${i}`, P, 'many@example.com')),
  );
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 5);
});

test('a password sign-in refused per address claims nothing of the account', async () => {
  const limits = new SignInLimits(new MemoryRateLimitStore(), {
    perIpPerMinute: 2,
    failuresPerAccount: 3,
    mailsPerAddressPerHour: 5,
  });
  await limits.beginPasswordSignIn('10.0.0.9', P, 'c@example.com');
  await limits.beginPasswordSignIn('10.0.0.9', P, 'd@example.com');
  await assert.rejects(
    limits.beginPasswordSignIn('10.0.0.9', P, 'c@example.com'),
    limited,
    'the third from one address',
  );
  // c has used one attempt of three, not two.
  await limits.beginPasswordSignIn('10.0.0.8', P, 'c@example.com');
  await limits.beginPasswordSignIn('10.0.0.7', P, 'c@example.com');
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.6', P, 'c@example.com'), limited);
});

test('limits the mails per address per hour, whatever the case, before anything is sent', async () => {
  const limits = new SignInLimits(new MemoryRateLimitStore(), {
    perIpPerMinute: 100,
    failuresPerAccount: 10,
    mailsPerAddressPerHour: 2,
  });
  await limits.hitMail(P, 'e@example.com');
  await limits.hitMail(P, ' E@Example.com');
  await assert.rejects(
    limits.hitMail(P, 'e@example.com'),
    (err) => limited(err) && (err as AppError).retryAfter! > 3500,
  );
  await limits.hitMail(P, 'f@example.com');
});
