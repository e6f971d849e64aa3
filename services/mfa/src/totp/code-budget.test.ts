import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type AppError, isAppError } from '@gatehouse/kit';
import { startTestMfa, type TestMfa } from '../../test/mfa-harness.ts';
import { totp } from '../../test/totp.ts';
import { CODE_BUDGET } from './totp.service.ts';

// Defects 5 and 6 of the hardening report: a stolen session could guess TOTP codes at
// `disable` and `recovery-codes` without limit, and fresh sign-in challenges each brought
// 5 more guesses. One budget per user now covers every route that checks a code.

let mfa: TestMfa;
before(async () => {
  mfa = await startTestMfa();
});
after(() => mfa.close());

const code = (secret: string) => totp(secret, mfa.clock.now().getTime());
const WRONG = '000000';
const isLimited = (err: unknown) => isAppError(err, 'rate_limited') && ((err as AppError).retryAfter ?? 0) > 0;

async function userWithTotp() {
  const user = mfa.newUser();
  const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'budget@example.test' });
  const { recovery_codes } = await mfa.bus.request('mfa.totp.enable', { ...user, code: code(secret) });
  mfa.clock.advance(30);
  // A wrong code that is not the current one by chance.
  return { user, secret, recoveryCodes: recovery_codes, wrong: code(secret) === WRONG ? '111111' : WRONG };
}

test('after 5 wrong codes at disable, even the right code is refused with a Retry-After', async () => {
  const { user, secret, wrong } = await userWithTotp();
  for (let i = 0; i < CODE_BUDGET.attempts; i++) {
    await assert.rejects(mfa.bus.request('mfa.totp.disable', { ...user, code: wrong }), (e) =>
      isAppError(e, 'invalid_code'),
    );
  }
  await assert.rejects(mfa.bus.request('mfa.totp.disable', { ...user, code: code(secret) }), isLimited);
  await assert.rejects(mfa.bus.request('mfa.recovery.regenerate', { ...user, code: code(secret) }), isLimited);
  assert.equal((await mfa.bus.request('mfa.status.get', user)).totp, true);
  // The window ends: the right code works again, and clears the count.
  mfa.clock.advance(CODE_BUDGET.windowMs / 1000 + 1);
  await mfa.bus.request('mfa.totp.disable', { ...user, code: code(secret) });
  assert.equal((await mfa.bus.request('mfa.status.get', user)).totp, false);
});

test('the budget is shared by sign-in challenges, regeneration and step-ups: fresh challenges buy nothing', async () => {
  const { user, secret, recoveryCodes, wrong } = await userWithTotp();
  await assert.rejects(mfa.bus.request('mfa.recovery.regenerate', { ...user, code: wrong }));
  await assert.rejects(mfa.bus.request('mfa.code.verify', { ...user, code: wrong }));
  for (let i = 0; i < CODE_BUDGET.attempts - 2; i++) {
    const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    await assert.rejects(mfa.bus.request('mfa.challenge.verify', { mfa_token, code: wrong }), (e) =>
      isAppError(e, 'invalid_code'),
    );
  }
  const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
  await assert.rejects(mfa.bus.request('mfa.challenge.verify', { mfa_token, code: code(secret) }), isLimited);
  const fresh = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
  await assert.rejects(
    mfa.bus.request('mfa.challenge.verify', { mfa_token: fresh.mfa_token, recovery_code: recoveryCodes[0]! }),
    isLimited,
  );
});

test('a right code clears the count; concurrent guesses cannot pass the budget', async () => {
  const { user, secret, wrong } = await userWithTotp();
  for (let i = 0; i < CODE_BUDGET.attempts - 1; i++) {
    await assert.rejects(mfa.bus.request('mfa.code.verify', { ...user, code: wrong }));
  }
  await mfa.bus.request('mfa.code.verify', { ...user, code: code(secret) });
  // Whole again: 5 more wrong codes are answered as wrong, not as locked.
  const guesses = await Promise.allSettled(
    Array.from({ length: 12 }, () => mfa.bus.request('mfa.code.verify', { ...user, code: wrong })),
  );
  const wrongAnswers = guesses.filter((g) => g.status === 'rejected' && isAppError(g.reason, 'invalid_code'));
  const locked = guesses.filter((g) => g.status === 'rejected' && isAppError(g.reason, 'rate_limited'));
  assert.equal(wrongAnswers.length, CODE_BUDGET.attempts);
  assert.equal(locked.length, 12 - CODE_BUDGET.attempts);
});

test('another user is not locked by this one', async () => {
  const a = await userWithTotp();
  const b = await userWithTotp();
  for (let i = 0; i <= CODE_BUDGET.attempts; i++) {
    await assert.rejects(mfa.bus.request('mfa.code.verify', { ...a.user, code: a.wrong }));
  }
  await mfa.bus.request('mfa.code.verify', { ...b.user, code: code(b.secret) });
});
