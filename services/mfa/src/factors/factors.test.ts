import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { sql } from 'kysely';
import { SoftwareAuthenticator } from '../../test/authenticator.ts';
import { startTestMfa, type TestMfa } from '../../test/mfa-harness.ts';
import { totp } from '../../test/totp.ts';

let mfa: TestMfa;
before(async () => {
  mfa = await startTestMfa();
});
after(() => mfa.close());

const code = (secret: string) => totp(secret, mfa.clock.now().getTime());
const rejectsWith = (promise: Promise<unknown>, errorCode: Parameters<typeof isAppError>[1]) =>
  assert.rejects(promise, (err) => isAppError(err, errorCode));

async function withTotp(user: { project_id: string; user_id: string }) {
  const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'dora@example.test' });
  const { recovery_codes } = await mfa.bus.request('mfa.totp.enable', { ...user, code: code(secret) });
  mfa.clock.advance(30);
  return { secret, recoveryCodes: recovery_codes };
}

async function withPasskey(user: { project_id: string; user_id: string }) {
  const { options } = await mfa.bus.request('mfa.passkey.register_options', {
    ...user,
    user_name: 'dora@example.test',
    user_display_name: 'Dora',
  });
  const response = await new SoftwareAuthenticator({ origin: mfa.origin }).create(options);
  return (await mfa.bus.request('mfa.passkey.register_verify', { ...user, response })).passkey;
}

/** Moves a user's factors back in time, as if they had been added `days` ago. */
async function age(user: { user_id: string }, days: number) {
  const at = new Date(Date.now() - days * 86_400_000);
  await sql`update mfa_totp set enabled_at = ${at} where user_id = ${user.user_id}`.execute(mfa.database.db);
  await sql`update mfa_passkeys set created_at = ${at} where user_id = ${user.user_id}`.execute(mfa.database.db);
}

describe('a step-up code', () => {
  test('a current TOTP code or an unused recovery code passes once; anything else is invalid_code', async () => {
    const user = mfa.newUser();
    const { secret, recoveryCodes } = await withTotp(user);
    const now = code(secret);
    await mfa.bus.request('mfa.code.verify', { ...user, code: now });
    await rejectsWith(mfa.bus.request('mfa.code.verify', { ...user, code: now }), 'invalid_code');
    await mfa.bus.request('mfa.code.verify', { ...user, code: recoveryCodes[0] as string });
    await rejectsWith(
      mfa.bus.request('mfa.code.verify', { ...user, code: recoveryCodes[0] as string }),
      'invalid_code',
    );
    await rejectsWith(mfa.bus.request('mfa.code.verify', { ...mfa.newUser(), code: '123456' }), 'invalid_code');
  });
});

describe('forgetting factors', () => {
  test('since a date: the factors added since go, older ones stay', async () => {
    const user = mfa.newUser();
    await withTotp(user);
    await withPasskey(user);
    await age(user, 30);
    await withPasskey(user); // a new one, today
    const since = new Date(Date.now() - 7 * 86_400_000).toISOString();
    const forgotten = await mfa.bus.request('mfa.factors.forget', { ...user, added_since: since });
    assert.deepEqual(forgotten, { totp: false, passkeys: 1 });
    assert.deepEqual(await mfa.bus.request('mfa.status.get', user), {
      totp: true,
      passkeys: 1,
      recovery_codes_left: 10,
    });
  });

  test('a TOTP turned on recently goes with its recovery codes, and identity is told', async () => {
    const user = mfa.newUser();
    await withTotp(user);
    const since = new Date(Date.now() - 86_400_000).toISOString();
    assert.deepEqual(await mfa.bus.request('mfa.factors.forget', { ...user, added_since: since }), {
      totp: true,
      passkeys: 0,
    });
    assert.deepEqual(await mfa.bus.request('mfa.status.get', user), {
      totp: false,
      passkeys: 0,
      recovery_codes_left: 0,
    });
    assert.deepEqual(mfa.setMfa.at(-1), { user_id: user.user_id, mfa_enabled: false });
    assert.ok(mfa.changes.some((c) => c.user_id === user.user_id && c.factor === 'totp' && c.change === 'disabled'));
  });

  test('without a date everything goes', async () => {
    const user = mfa.newUser();
    await withTotp(user);
    await withPasskey(user);
    await age(user, 365);
    assert.deepEqual(await mfa.bus.request('mfa.factors.forget', user), { totp: true, passkeys: 1 });
    assert.deepEqual(await mfa.bus.request('mfa.status.get', user), {
      totp: false,
      passkeys: 0,
      recovery_codes_left: 0,
    });
  });

  test('when identity cannot be told, TOTP stays on and the error is thrown', async () => {
    const user = mfa.newUser();
    await withTotp(user);
    mfa.identityDown = true;
    try {
      await rejectsWith(mfa.bus.request('mfa.factors.forget', user), 'service_unavailable');
    } finally {
      mfa.identityDown = false;
    }
    assert.equal((await mfa.bus.request('mfa.status.get', user)).totp, true);
  });
});
