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

test('locks an account after too many failures, whatever the case of the email', async () => {
  const limits = new SignInLimits(new MemoryRateLimitStore(), {
    perIpPerMinute: 100,
    failuresPerAccount: 2,
    mailsPerAddressPerHour: 5,
  });
  await limits.checkAccount(P, 'a@example.com');
  await limits.recordFailure(P, 'a@example.com');
  await limits.recordFailure(P, ' A@Example.com ');
  await assert.rejects(limits.checkAccount(P, 'a@example.com'), limited);
  await limits.checkAccount(P, 'b@example.com');
  await limits.clearFailures(P, 'A@example.com');
  await limits.checkAccount(P, 'a@example.com');
});

test('a password sign-in counts the address and refuses a locked account in one step', async () => {
  const limits = new SignInLimits(new MemoryRateLimitStore(), {
    perIpPerMinute: 3,
    failuresPerAccount: 2,
    mailsPerAddressPerHour: 5,
  });
  assert.equal(await limits.beginPasswordSignIn('10.0.0.9', P, 'c@example.com'), 0);
  await limits.recordFailure(P, 'c@example.com');
  assert.equal(await limits.beginPasswordSignIn('10.0.0.9', P, 'c@example.com'), 1);
  await limits.recordFailure(P, 'c@example.com');
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.8', P, 'c@example.com'), limited);
  assert.equal(await limits.beginPasswordSignIn('10.0.0.9', P, 'd@example.com'), 0);
  await assert.rejects(
    limits.beginPasswordSignIn('10.0.0.9', P, 'd@example.com'),
    limited,
    'the fourth from one address',
  );
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
