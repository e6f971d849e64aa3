import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { sql } from 'kysely';
import { startTestMfa, type TestMfa } from '../../test/mfa-harness.ts';
import { base32Decode, totp } from '../../test/totp.ts';

let mfa: TestMfa;
before(async () => {
  mfa = await startTestMfa();
});
after(() => mfa.close());

const code = (secret: string, stepsAgo = 0) => totp(secret, mfa.clock.now().getTime() - stepsAgo * 30_000);
const rejectsWith = (promise: Promise<unknown>, errorCode: Parameters<typeof isAppError>[1]) =>
  assert.rejects(promise, (err) => isAppError(err, errorCode));

/** A user with TOTP on; the clock then moves to the next step, so a fresh code is not a replay. */
async function userWithTotp() {
  const user = mfa.newUser();
  const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'alice@example.test' });
  const { recovery_codes } = await mfa.bus.request('mfa.totp.enable', { ...user, code: code(secret) });
  mfa.clock.advance(30);
  return { user, secret, recoveryCodes: recovery_codes };
}

test('the test TOTP implementation matches RFC 6238 appendix B', () => {
  // "12345678901234567890" in base32; SHA-1 at T = 59 s is 94287082 (8 digits).
  assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59_000), '287082');
  assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 1_111_111_109_000), '081804');
});

describe('TOTP setup', () => {
  test('returns a 160-bit base32 secret and an otpauth URL an authenticator app reads', async () => {
    const user = mfa.newUser();
    const { secret, otpauth_url } = await mfa.bus.request('mfa.totp.setup', {
      ...user,
      account_name: 'alice@example.test',
    });
    assert.match(secret, /^[A-Z2-7]+=*$/);
    assert.equal(base32Decode(secret).length, 20);
    const url = new URL(otpauth_url);
    assert.equal(url.protocol, 'otpauth:');
    assert.equal(url.host, 'totp');
    assert.equal(decodeURIComponent(url.pathname), '/Gatehouse:alice@example.test');
    assert.equal(url.searchParams.get('secret'), secret);
    assert.equal(url.searchParams.get('issuer'), 'Gatehouse');
    assert.equal(url.searchParams.get('algorithm'), 'SHA1');
    assert.equal(url.searchParams.get('digits'), '6');
    assert.equal(url.searchParams.get('period'), '30');
  });

  test('stores the secret sealed, never in clear', async () => {
    const user = mfa.newUser();
    const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'a@example.test' });
    const row = await mfa.database.db
      .selectFrom('mfa_totp')
      .selectAll()
      .where('user_id', '=', user.user_id)
      .executeTakeFirstOrThrow();
    assert.match(row.pending_secret_sealed ?? '', /^v2\./);
    assert.ok(!JSON.stringify(row).includes(secret));
  });

  test('a second setup replaces the pending secret', async () => {
    const user = mfa.newUser();
    const first = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'a@example.test' });
    const second = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'a@example.test' });
    assert.notEqual(first.secret, second.secret);
    await rejectsWith(mfa.bus.request('mfa.totp.enable', { ...user, code: code(first.secret) }), 'invalid_code');
    await mfa.bus.request('mfa.totp.enable', { ...user, code: code(second.secret) });
  });

  test('is mfa_already_enabled once TOTP is on, and enable without a setup is invalid_challenge', async () => {
    const { user } = await userWithTotp();
    await rejectsWith(
      mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'a@example.test' }),
      'mfa_already_enabled',
    );
    await rejectsWith(mfa.bus.request('mfa.totp.enable', { ...mfa.newUser(), code: '123456' }), 'invalid_challenge');
  });
});

describe('TOTP enable', () => {
  test('refuses a wrong code and leaves TOTP off', async () => {
    const user = mfa.newUser();
    const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'a@example.test' });
    const wrong = code(secret) === '000000' ? '000001' : '000000';
    await rejectsWith(mfa.bus.request('mfa.totp.enable', { ...user, code: wrong }), 'invalid_code');
    await rejectsWith(mfa.bus.request('mfa.totp.enable', { ...user, code: 'not a code' }), 'invalid_code');
    assert.deepEqual(await mfa.bus.request('mfa.status.get', user), {
      totp: false,
      passkeys: 0,
      recovery_codes_left: 0,
    });
    assert.equal(
      mfa.setMfa.some((c) => c.user_id === user.user_id),
      false,
    );
  });

  test('with a right code: on, 10 recovery codes, identity told, event published', async () => {
    const user = mfa.newUser();
    const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'a@example.test' });
    const { recovery_codes } = await mfa.bus.request('mfa.totp.enable', { ...user, code: code(secret) });
    assert.equal(recovery_codes.length, 10);
    assert.equal(new Set(recovery_codes).size, 10);
    for (const rc of recovery_codes) assert.match(rc, /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
    assert.deepEqual(
      mfa.setMfa.filter((c) => c.user_id === user.user_id),
      [{ user_id: user.user_id, mfa_enabled: true }],
    );
    assert.deepEqual(
      mfa.changes.filter((e) => e.user_id === user.user_id),
      [{ v: 1, ...user, factor: 'totp', change: 'enabled' }],
    );
    assert.deepEqual(await mfa.bus.request('mfa.status.get', user), {
      totp: true,
      passkeys: 0,
      recovery_codes_left: 10,
    });
    // Only HMACs are stored.
    const stored = await mfa.database.db
      .selectFrom('mfa_recovery_codes')
      .select('code_hash')
      .where('user_id', '=', user.user_id)
      .execute();
    assert.equal(stored.length, 10);
    for (const { code_hash } of stored) assert.match(code_hash, /^[0-9a-f]{64}$/);
  });

  test('is undone when identity cannot record it, so a retry works', async () => {
    const user = mfa.newUser();
    const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'a@example.test' });
    mfa.identityDown = true;
    try {
      await rejectsWith(mfa.bus.request('mfa.totp.enable', { ...user, code: code(secret) }), 'service_unavailable');
    } finally {
      mfa.identityDown = false;
    }
    assert.equal((await mfa.bus.request('mfa.status.get', user)).totp, false);
    mfa.clock.advance(30);
    const { recovery_codes } = await mfa.bus.request('mfa.totp.enable', { ...user, code: code(secret) });
    assert.equal(recovery_codes.length, 10);
  });
});

describe('TOTP codes', () => {
  test('the same code is refused on replay, in any flow', async () => {
    const user = mfa.newUser();
    const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'a@example.test' });
    const enableCode = code(secret);
    await mfa.bus.request('mfa.totp.enable', { ...user, code: enableCode });
    await rejectsWith(mfa.bus.request('mfa.totp.disable', { ...user, code: enableCode }), 'invalid_code');
    await rejectsWith(mfa.bus.request('mfa.recovery.regenerate', { ...user, code: enableCode }), 'invalid_code');

    mfa.clock.advance(30);
    const fresh = code(secret);
    await mfa.bus.request('mfa.recovery.regenerate', { ...user, code: fresh });
    await rejectsWith(mfa.bus.request('mfa.recovery.regenerate', { ...user, code: fresh }), 'invalid_code');
    assert.equal((await mfa.bus.request('mfa.status.get', user)).totp, true);
  });

  test('a code from one step ago is accepted, one from three steps ago is not', async () => {
    const { user, secret } = await userWithTotp();
    mfa.clock.advance(120);
    await rejectsWith(mfa.bus.request('mfa.recovery.regenerate', { ...user, code: code(secret, 3) }), 'invalid_code');
    await mfa.bus.request('mfa.recovery.regenerate', { ...user, code: code(secret, 1) });
    // The step just used is now the floor: the current code still works, the older one no longer.
    await mfa.bus.request('mfa.recovery.regenerate', { ...user, code: code(secret, 0) });
  });

  test('a code typed with spaces is accepted', async () => {
    const { user, secret } = await userWithTotp();
    const c = code(secret);
    await mfa.bus.request('mfa.recovery.regenerate', { ...user, code: `${c.slice(0, 3)} ${c.slice(3)}` });
  });
});

describe('recovery codes', () => {
  test('a recovery code works once, typed any way, then is refused', async () => {
    const { user, recoveryCodes } = await userWithTotp();
    const challenge = async () => (await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] })).mfa_token;
    const typed = ` ${recoveryCodes[0]!.toUpperCase().replace(/-/g, ' ')} `;
    await mfa.bus.request('mfa.challenge.verify', { mfa_token: await challenge(), recovery_code: typed });
    await rejectsWith(
      mfa.bus.request('mfa.challenge.verify', { mfa_token: await challenge(), recovery_code: recoveryCodes[0]! }),
      'invalid_code',
    );
    await rejectsWith(mfa.bus.request('mfa.totp.disable', { ...user, code: recoveryCodes[0]! }), 'invalid_code');
    // Another of the user's codes still works.
    await mfa.bus.request('mfa.totp.disable', { ...user, code: recoveryCodes[1]! });
  });

  test('regenerate kills the old codes and returns 10 new ones', async () => {
    const { user, secret, recoveryCodes } = await userWithTotp();
    const { recovery_codes: fresh } = await mfa.bus.request('mfa.recovery.regenerate', { ...user, code: code(secret) });
    assert.equal(fresh.length, 10);
    assert.equal(fresh.filter((c) => recoveryCodes.includes(c)).length, 0);
    for (const old of recoveryCodes.slice(0, 3)) {
      await rejectsWith(mfa.bus.request('mfa.totp.disable', { ...user, code: old }), 'invalid_code');
    }
    assert.equal((await mfa.bus.request('mfa.status.get', user)).recovery_codes_left, 10);
    assert.deepEqual(
      mfa.changes.filter((e) => e.user_id === user.user_id).map((e) => `${e.factor}:${e.change}`),
      ['totp:enabled', 'recovery_codes:regenerated'],
    );
  });

  test('status counts the codes left', async () => {
    const { user, recoveryCodes } = await userWithTotp();
    const challenge = async () => (await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] })).mfa_token;
    await mfa.bus.request('mfa.challenge.verify', { mfa_token: await challenge(), recovery_code: recoveryCodes[0]! });
    await mfa.bus.request('mfa.challenge.verify', { mfa_token: await challenge(), recovery_code: recoveryCodes[1]! });
    assert.deepEqual(await mfa.bus.request('mfa.status.get', user), {
      totp: true,
      passkeys: 0,
      recovery_codes_left: 8,
    });
  });
});

describe('TOTP disable', () => {
  test('with a recovery code: off, codes gone, identity told, event published', async () => {
    const { user, secret, recoveryCodes } = await userWithTotp();
    await rejectsWith(mfa.bus.request('mfa.totp.disable', { ...user, code: 'aaaa-bbbb-cccc-dddd' }), 'invalid_code');
    await mfa.bus.request('mfa.totp.disable', { ...user, code: recoveryCodes[4]! });
    assert.deepEqual(await mfa.bus.request('mfa.status.get', user), {
      totp: false,
      passkeys: 0,
      recovery_codes_left: 0,
    });
    assert.deepEqual(
      mfa.setMfa.filter((c) => c.user_id === user.user_id).map((c) => c.mfa_enabled),
      [true, false],
    );
    assert.deepEqual(
      mfa.changes.filter((e) => e.user_id === user.user_id).map((e) => `${e.factor}:${e.change}`),
      ['totp:enabled', 'totp:disabled'],
    );
    const { n } = await mfa.database.db
      .selectFrom('mfa_recovery_codes')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('user_id', '=', user.user_id)
      .executeTakeFirstOrThrow();
    assert.equal(n, 0);
    // Off means off: no code works any more, and a new setup may start.
    await rejectsWith(mfa.bus.request('mfa.totp.disable', { ...user, code: code(secret) }), 'invalid_code');
    await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'a@example.test' });
  });

  test('with a TOTP code, and put back when identity cannot record it', async () => {
    const { user, secret } = await userWithTotp();
    mfa.identityDown = true;
    try {
      await rejectsWith(mfa.bus.request('mfa.totp.disable', { ...user, code: code(secret) }), 'service_unavailable');
    } finally {
      mfa.identityDown = false;
    }
    assert.deepEqual(await mfa.bus.request('mfa.status.get', user), {
      totp: true,
      passkeys: 0,
      recovery_codes_left: 10,
    });
    mfa.clock.advance(30);
    await mfa.bus.request('mfa.totp.disable', { ...user, code: code(secret) });
    assert.equal((await mfa.bus.request('mfa.status.get', user)).totp, false);
  });
});
