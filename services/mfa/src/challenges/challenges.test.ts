import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { sql } from 'kysely';
import { startTestMfa, type TestMfa } from '../../test/mfa-harness.ts';
import { totp } from '../../test/totp.ts';

let mfa: TestMfa;
before(async () => {
  mfa = await startTestMfa();
});
after(() => mfa.close());

const rejectsWith = (promise: Promise<unknown>, errorCode: Parameters<typeof isAppError>[1]) =>
  assert.rejects(promise, (err) => isAppError(err, errorCode));

async function userWithTotp() {
  const user = mfa.newUser();
  const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'bob@example.test' });
  const { recovery_codes } = await mfa.bus.request('mfa.totp.enable', {
    ...user,
    code: totp(secret, mfa.clock.now()),
  });
  mfa.clock.advance(30);
  return { user, secret, recoveryCodes: recovery_codes, code: () => totp(secret, mfa.clock.now()) };
}

const wrongCode = (right: string) => (right === '111111' ? '222222' : '111111');

describe('creating a challenge', () => {
  test('is invalid_challenge for a user without TOTP', async () => {
    await rejectsWith(mfa.bus.request('mfa.challenge.create', { ...mfa.newUser(), amr: ['pwd'] }), 'invalid_challenge');
  });

  test('offers TOTP and recovery codes, for 5 minutes, with a 256-bit token stored hashed', async () => {
    const { user } = await userWithTotp();
    const created = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    assert.deepEqual(created.methods, ['totp', 'recovery_code']);
    assert.equal(created.expires_in, 300);
    assert.equal(Buffer.from(created.mfa_token, 'base64url').length, 32);
    const rows = await mfa.database.db
      .selectFrom('mfa_challenges')
      .select(['token_hash', 'expires_at'])
      .where('user_id', '=', user.user_id)
      .execute();
    assert.equal(rows.length, 1);
    assert.notEqual(rows[0]?.token_hash, created.mfa_token);
    assert.equal(rows[0]?.expires_at.getTime(), mfa.clock.now().getTime() + 300_000);
  });
});

describe('verifying a challenge', () => {
  test('a TOTP code adds otp to the first factor: amr ["pwd","otp"]', async () => {
    const { user, code } = await userWithTotp();
    const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    assert.deepEqual(await mfa.bus.request('mfa.challenge.verify', { mfa_token, code: code() }), {
      ...user,
      amr: ['pwd', 'otp'],
    });
  });

  test('a recovery code adds recovery_code, in its own field or in the code field', async () => {
    const { user, recoveryCodes } = await userWithTotp();
    const first = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['magic_link'] });
    const viaField = await mfa.bus.request('mfa.challenge.verify', {
      mfa_token: first.mfa_token,
      recovery_code: recoveryCodes[0]!,
    });
    assert.deepEqual(viaField.amr, ['magic_link', 'recovery_code']);
    const second = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    const viaCode = await mfa.bus.request('mfa.challenge.verify', {
      mfa_token: second.mfa_token,
      code: recoveryCodes[1]!,
    });
    assert.deepEqual(viaCode.amr, ['pwd', 'recovery_code']);
  });

  test('is single use: a second success is invalid_token', async () => {
    const { user, code } = await userWithTotp();
    const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    await mfa.bus.request('mfa.challenge.verify', { mfa_token, code: code() });
    mfa.clock.advance(30);
    await rejectsWith(mfa.bus.request('mfa.challenge.verify', { mfa_token, code: code() }), 'invalid_token');
  });

  test('5 wrong codes are invalid_code, then the challenge is spent and so is the code budget of the user', async () => {
    const { user, code } = await userWithTotp();
    const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    for (let i = 0; i < 5; i++) {
      await rejectsWith(
        mfa.bus.request('mfa.challenge.verify', { mfa_token, code: wrongCode(code()) }),
        'invalid_code',
      );
    }
    await rejectsWith(mfa.bus.request('mfa.challenge.verify', { mfa_token, code: code() }), 'invalid_token');
    // A new challenge buys no guesses: the user's code budget is spent, and
    // even the right code is refused unchecked until its window ends.
    const next = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    await rejectsWith(
      mfa.bus.request('mfa.challenge.verify', { mfa_token: next.mfa_token, code: code() }),
      'rate_limited',
    );
    // The code itself was not used up by the refusals: once the window has
    // passed, a new challenge takes the current one.
    mfa.clock.advance(15 * 60);
    const later = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    await mfa.bus.request('mfa.challenge.verify', { mfa_token: later.mfa_token, code: code() });
  });

  test('concurrent guesses cannot exceed 5 tries', async () => {
    const { user, code } = await userWithTotp();
    const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () => mfa.bus.request('mfa.challenge.verify', { mfa_token, code: wrongCode(code()) })),
    );
    const codes = outcomes.map((o) => (o.status === 'rejected' && isAppError(o.reason) ? o.reason.code : 'ok'));
    assert.equal(codes.filter((c) => c === 'invalid_code').length, 5);
    assert.equal(codes.filter((c) => c === 'invalid_token').length, 3);
  });

  test('an expired challenge is invalid_token', async () => {
    const { user, code } = await userWithTotp();
    const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    await mfa.database.db
      .updateTable('mfa_challenges')
      .set({ expires_at: sql<Date>`now() - interval '1 minute'` })
      .where('user_id', '=', user.user_id)
      .execute();
    await rejectsWith(mfa.bus.request('mfa.challenge.verify', { mfa_token, code: code() }), 'invalid_token');
  });

  test('challenges a day past their time are swept when a new one is made', async () => {
    const { user } = await userWithTotp();
    await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    await mfa.database.db
      .updateTable('mfa_challenges')
      .set({ expires_at: sql<Date>`now() - interval '2 days'` })
      .where('user_id', '=', user.user_id)
      .execute();
    await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    const left = await mfa.database.db
      .selectFrom('mfa_challenges')
      .select('expires_at')
      .where('user_id', '=', user.user_id)
      .execute();
    assert.equal(left.length, 1);
    assert.ok(left[0]!.expires_at.getTime() > Date.now());
  });

  test('a challenge lives 5 minutes by the clock', async () => {
    const { user, code } = await userWithTotp();
    const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    mfa.clock.advance(301);
    await rejectsWith(mfa.bus.request('mfa.challenge.verify', { mfa_token, code: code() }), 'invalid_token');
  });

  test('an unknown token is invalid_token, and exactly one proof is required', async () => {
    const { user, code } = await userWithTotp();
    await rejectsWith(
      mfa.bus.request('mfa.challenge.verify', { mfa_token: 'not-a-token', code: code() }),
      'invalid_token',
    );
    const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    await rejectsWith(mfa.bus.request('mfa.challenge.verify', { mfa_token }), 'validation_failed');
    await rejectsWith(
      mfa.bus.request('mfa.challenge.verify', { mfa_token, code: code(), recovery_code: 'x' }),
      'validation_failed',
    );
    // Neither counted as a try.
    await mfa.bus.request('mfa.challenge.verify', { mfa_token, code: code() });
  });
});
