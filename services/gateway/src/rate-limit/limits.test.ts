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

const limitsWith = (
  options: { perIpPerMinute?: number; failures: number; unknownClients?: number },
  now?: () => number,
) =>
  new SignInLimits(new MemoryRateLimitStore(now), {
    perIpPerMinute: options.perIpPerMinute ?? 100,
    failuresPerAccount: options.failures,
    failuresPerAccountUnknownClients: options.unknownClients,
    mailsPerAddressPerHour: 5,
    ...(now ? { now } : {}),
  });

/** A right password from `ip` (and `device`): the device token the owner's browser keeps. */
async function signInOk(limits: SignInLimits, ip: string, email: string, device?: string): Promise<string> {
  return limits.completeSignIn(await limits.beginPasswordSignIn(ip, P, email, device));
}

test("failed passwords lock the (account, address) pair, whatever the case of the email, not the account's other addresses", async () => {
  const limits = limitsWith({ failures: 2 });
  // Each attempt claims one of the pair's two before its password is checked; a failed password keeps the claim.
  await limits.beginPasswordSignIn('10.0.0.1', P, 'a@example.com');
  await limits.beginPasswordSignIn('10.0.0.1', P, ' A@Example.com ');
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.1', P, 'a@example.com'), limited);
  // Another account from the same address, and the same account from another address, are not locked.
  await limits.beginPasswordSignIn('10.0.0.1', P, 'b@example.com');
  await limits.beginPasswordSignIn('10.0.0.2', P, 'a@example.com');
  // Every spelling of one mailbox is one account (as identity looks it up): Unicode or punycode domain.
  await limits.beginPasswordSignIn('10.0.0.3', P, 'u@exämple.com');
  await limits.beginPasswordSignIn('10.0.0.3', P, 'U@xn--exmple-cua.com');
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.3', P, 'u@exa\u0308mple.com'), limited);
  // IPv6: the /64 is one client.
  await limits.beginPasswordSignIn('2001:db8:1:2::1', P, 'a@example.com');
  await limits.beginPasswordSignIn('2001:db8:1:2::ffff', P, 'a@example.com');
  await assert.rejects(limits.beginPasswordSignIn('2001:db8:1:2::7', P, 'a@example.com'), limited);
});

test("a success forgets the pair's failures", async () => {
  const limits = limitsWith({ failures: 2 });
  await limits.beginPasswordSignIn('10.0.0.1', P, 'a@example.com');
  await signInOk(limits, '10.0.0.1', 'a@example.com');
  await limits.beginPasswordSignIn('10.0.0.1', P, 'a@example.com');
  await limits.beginPasswordSignIn('10.0.0.1', P, 'a@example.com');
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.1', P, 'a@example.com'), limited);
});

test("the owner's known device signs in from the attacker's own address, with a budget of its own", async () => {
  const limits = limitsWith({ failures: 2 });
  const device = await signInOk(limits, '10.0.0.5', 'owner@example.com');
  assert.match(device, /^[A-Za-z0-9_-]{43}$/);
  // The attacker locks its address's pair.
  for (let i = 0; i < 2; i++) await limits.beginPasswordSignIn('10.6.6.6', P, 'owner@example.com');
  await assert.rejects(limits.beginPasswordSignIn('10.6.6.6', P, 'owner@example.com'), limited);
  // The owner's browser, behind that same address, is not a stranger.
  const attempt = await limits.beginPasswordSignIn('10.6.6.6', P, 'owner@example.com', device);
  assert.equal(attempt.knownDevice, device);
  assert.equal(await limits.completeSignIn(attempt), device, 'a known device keeps its token (renewed)');
  // Its own failures are bounded by its own pair.
  await limits.beginPasswordSignIn('10.6.6.6', P, 'owner@example.com', device);
  await limits.beginPasswordSignIn('10.7.7.7', P, 'owner@example.com', device);
  await assert.rejects(limits.beginPasswordSignIn('10.8.8.8', P, 'owner@example.com', device), limited);
});

test('a device cookie counts only for the account it was issued to, and only as issued', async () => {
  const limits = limitsWith({ failures: 1 });
  const device = await signInOk(limits, '10.0.0.5', 'owner@example.com');
  // Another account: the cookie is no known device there; its address's pair is what counts.
  const other = await limits.beginPasswordSignIn('10.0.0.6', P, 'other@example.com', device);
  assert.equal(other.knownDevice, undefined);
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.6', P, 'other@example.com', device), limited);
  // A forged or malformed cookie is a stranger too.
  for (const forged of ['x'.repeat(43), 'not a token', '']) {
    const attempt = await limits.beginPasswordSignIn(`10.1.1.${forged.length}`, P, 'owner@example.com', forged);
    assert.equal(attempt.knownDevice, undefined);
    assert.notEqual(await limits.completeSignIn(attempt), forged, 'a stranger gets a new token, never its own');
  }
});

test('strangers share one budget per account (distributed guessing); past it, known devices still sign in', async () => {
  const limits = limitsWith({ failures: 2, unknownClients: 5 });
  const device = await signInOk(limits, '10.0.0.5', 'owner@example.com');
  for (let i = 0; i < 5; i++) await limits.beginPasswordSignIn(`10.2.0.${i}`, P, 'owner@example.com');
  // A sixth address, the owner's included, is refused for the rest of the window.
  await assert.rejects(limits.beginPasswordSignIn('10.2.1.1', P, 'owner@example.com'), limited);
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.5', P, 'owner@example.com'), limited);
  // The owner's known device is not.
  await signInOk(limits, '10.2.1.1', 'owner@example.com', device);
  // A success from a stranger gives its own claim back but not the other strangers' failures.
  const fresh = limitsWith({ failures: 2, unknownClients: 3 });
  await fresh.beginPasswordSignIn('10.3.0.1', P, 'c@example.com');
  await fresh.beginPasswordSignIn('10.3.0.2', P, 'c@example.com');
  await signInOk(fresh, '10.3.0.3', 'c@example.com');
  await fresh.beginPasswordSignIn('10.3.0.4', P, 'c@example.com');
  await assert.rejects(fresh.beginPasswordSignIn('10.3.0.5', P, 'c@example.com'), limited);
});

test('an attempt that failed for another reason than the password is given back', async () => {
  const limits = limitsWith({ failures: 1, unknownClients: 1 });
  await limits.refundAttempt(await limits.beginPasswordSignIn('10.0.0.1', P, 'r@example.com'));
  // Both the pair's claim and the strangers' came back.
  await limits.beginPasswordSignIn('10.0.0.1', P, 'r@example.com');
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.1', P, 'r@example.com'), limited);
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.2', P, 'r@example.com'), limited);
});

test('concurrent attempts never pass a limit: one address, many addresses, one known device', async () => {
  const limits = limitsWith({ failures: 5, unknownClients: 12, perIpPerMinute: 1000 });
  const device = await signInOk(limits, '10.0.0.5', 'many@example.com');
  const passed = async (attempts: Promise<unknown>[]) =>
    (await Promise.allSettled(attempts)).filter((o) => o.status === 'fulfilled').length;
  const times = (n: number, f: (i: number) => Promise<unknown>) => Array.from({ length: n }, (_, i) => f(i));
  assert.equal(await passed(times(20, () => limits.beginPasswordSignIn('10.1.0.1', P, 'many@example.com'))), 5);
  assert.equal(
    await passed(times(40, (i) => limits.beginPasswordSignIn(`10.1.1.${i}`, P, 'many@example.com'))),
    7,
    'the strangers had 12, the first address used 5',
  );
  assert.equal(
    await passed(times(20, (i) => limits.beginPasswordSignIn(`10.1.2.${i}`, P, 'many@example.com', device))),
    5,
  );
});

test('a device is forgotten when it has not signed in for 180 days', async () => {
  let now = Date.now();
  const limits = limitsWith({ failures: 1 }, () => now);
  const device = await signInOk(limits, '10.0.0.5', 'old@example.com');
  now += 179 * 24 * 3600_000;
  assert.equal(await signInOk(limits, '10.0.0.6', 'old@example.com', device), device, 'renewed');
  now += 179 * 24 * 3600_000;
  assert.equal((await limits.beginPasswordSignIn('10.0.0.7', P, 'old@example.com', device)).knownDevice, device);
  now += 181 * 24 * 3600_000;
  assert.equal((await limits.beginPasswordSignIn('10.0.0.8', P, 'old@example.com', device)).knownDevice, undefined);
});

test('an account keeps its 10 most recently used devices', async () => {
  const limits = limitsWith({ failures: 1 });
  const devices: string[] = [];
  for (let i = 0; i < 11; i++) devices.push(await signInOk(limits, `10.4.0.${i}`, 'busy@example.com'));
  const known = async (d: string, i: number) =>
    (await limits.beginPasswordSignIn(`10.4.1.${i}`, P, 'busy@example.com', d)).knownDevice !== undefined;
  assert.equal(await known(devices[0]!, 0), false, 'the first, used longest ago, is forgotten');
  for (let i = 1; i < 11; i++) assert.equal(await known(devices[i]!, i), true);
});

test('a password sign-in refused per address claims nothing of the account', async () => {
  let now = Date.now();
  const limits = limitsWith({ perIpPerMinute: 2, failures: 3 }, () => now);
  await limits.beginPasswordSignIn('10.0.0.9', P, 'c@example.com');
  await limits.beginPasswordSignIn('10.0.0.9', P, 'd@example.com');
  await assert.rejects(
    limits.beginPasswordSignIn('10.0.0.9', P, 'c@example.com'),
    limited,
    'the third from one address',
  );
  // The next minute: the pair (c, 10.0.0.9) has used one attempt of three, not two.
  now += 61_000;
  await limits.beginPasswordSignIn('10.0.0.9', P, 'c@example.com');
  await limits.beginPasswordSignIn('10.0.0.9', P, 'c@example.com');
  now += 61_000;
  await assert.rejects(limits.beginPasswordSignIn('10.0.0.9', P, 'c@example.com'), limited);
});

test("step-ups claim on the user's own budget, are given back, and clear", async () => {
  const limits = limitsWith({ failures: 2 });
  const U = '00000000-0000-7000-8000-0000000000aa';
  await limits.beginStepUp('10.0.0.1', P, U);
  await limits.refundStepUp(P, U);
  await limits.beginStepUp('10.0.0.2', P, U);
  await limits.beginStepUp('10.0.0.3', P, U);
  await assert.rejects(limits.beginStepUp('10.0.0.4', P, U), limited, 'per user, whatever the address');
  await limits.clearStepUp(P, U);
  await limits.beginStepUp('10.0.0.4', P, U);
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
