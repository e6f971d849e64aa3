import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPostgresTestDatabase, type TestDatabase } from '@gatehouse/db/testing';
import { isAppError } from '@gatehouse/kit';
import { sql } from 'kysely';
import { SoftwareAuthenticator } from '../test/authenticator.ts';
import { startTestMfa, type TestMfa } from '../test/mfa-harness.ts';
import { totp } from '../test/totp.ts';
import { type MfaDatabase, migrate } from './app.ts';

// The same service against the real Postgres (TEST_DATABASE_URL), where
// requests really run at once on a pool of connections.
let database: TestDatabase<MfaDatabase>;
let mfa: TestMfa;
before(async () => {
  database = await openPostgresTestDatabase<MfaDatabase>(migrate);
  mfa = await startTestMfa({ database });
});
after(async () => {
  await mfa.close();
  await database.drop();
});

async function userWithTotp() {
  const user = mfa.newUser();
  const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'e@example.test' });
  const { recovery_codes } = await mfa.bus.request('mfa.totp.enable', { ...user, code: totp(secret, mfa.clock.now()) });
  mfa.clock.advance(30);
  return { user, secret, recoveryCodes: recovery_codes };
}

test('replicas migrating at once leave one record per migration', async () => {
  await Promise.all([migrate(database.db), migrate(database.db), migrate(database.db)]);
  const { rows } = await sql<{ n: number; names: number }>`
    select count(*)::int as n, count(distinct name)::int as names from mfa_migration`.execute(database.db);
  assert.equal(rows[0]?.n, rows[0]?.names, 'each migration recorded once');
  assert.equal(rows[0]?.names, 3);
});

test('one TOTP code used twice at once succeeds once', async () => {
  const { user, secret } = await userWithTotp();
  const code = totp(secret, mfa.clock.now());
  const outcomes = await Promise.allSettled(
    Array.from({ length: 6 }, () => mfa.bus.request('mfa.recovery.regenerate', { ...user, code })),
  );
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
  // The others: the code is spent (invalid_code), or, when all six claimed the
  // user's code budget before the winner cleared it, the sixth is over budget.
  for (const o of outcomes)
    if (o.status === 'rejected')
      assert.ok(isAppError(o.reason, 'invalid_code') || isAppError(o.reason, 'rate_limited'));
});

test('one recovery code used twice at once succeeds once', async () => {
  const { user, recoveryCodes } = await userWithTotp();
  const tokens = await Promise.all(
    [1, 2, 3, 4].map(async () => (await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] })).mfa_token),
  );
  const outcomes = await Promise.allSettled(
    tokens.map((mfa_token) => mfa.bus.request('mfa.challenge.verify', { mfa_token, recovery_code: recoveryCodes[0]! })),
  );
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
});

test('concurrent guesses on one challenge cannot exceed 5 tries', async () => {
  const { user, secret } = await userWithTotp();
  const right = totp(secret, mfa.clock.now());
  const wrong = right === '111111' ? '222222' : '111111';
  const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
  const outcomes = await Promise.allSettled(
    Array.from({ length: 12 }, () => mfa.bus.request('mfa.challenge.verify', { mfa_token, code: wrong })),
  );
  const codes = outcomes.map((o) => (o.status === 'rejected' && isAppError(o.reason) ? o.reason.code : 'ok'));
  assert.equal(codes.filter((c) => c === 'invalid_code').length, 5);
  assert.equal(codes.filter((c) => c === 'invalid_token').length, 7);
});

test('passkeys register, sign in and complete a challenge on Postgres', async () => {
  const { user } = await userWithTotp();
  const authenticator = new SoftwareAuthenticator({ origin: mfa.origin });
  const { options } = await mfa.bus.request('mfa.passkey.register_options', {
    ...user,
    user_name: 'e@example.test',
    user_display_name: 'E',
  });
  await mfa.bus.request('mfa.passkey.register_verify', { ...user, response: await authenticator.create(options) });

  const login = await mfa.bus.request('mfa.passkey.login_options', { project_id: user.project_id });
  const verified = await mfa.bus.request('mfa.passkey.login_verify', {
    project_id: user.project_id,
    challenge_id: login.challenge_id,
    response: await authenticator.get(login.options),
  });
  assert.deepEqual(verified, { ...user, amr: ['webauthn'] });

  const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
  const forChallenge = await mfa.bus.request('mfa.passkey.login_options', { project_id: user.project_id, mfa_token });
  const response = await authenticator.get(forChallenge.options);
  assert.deepEqual(await mfa.bus.request('mfa.challenge.verify', { mfa_token, webauthn: response }), {
    ...user,
    amr: ['pwd', 'webauthn'],
  });
  const { passkeys } = await mfa.bus.request('mfa.passkey.list', user);
  assert.equal(passkeys.length, 1);
  assert.equal(passkeys[0]?.last_used_at, mfa.clock.now().toISOString());
});

test('two deletes of the last two passkeys of a user without a password: one wins', async () => {
  const user = mfa.newUser();
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const { options } = await mfa.bus.request('mfa.passkey.register_options', {
      ...user,
      user_name: 'f@example.test',
      user_display_name: 'F',
    });
    const response = await new SoftwareAuthenticator({ origin: mfa.origin }).create(options);
    ids.push((await mfa.bus.request('mfa.passkey.register_verify', { ...user, response })).passkey.id);
  }
  const outcomes = await Promise.allSettled(
    ids.map((passkey_id) => mfa.bus.request('mfa.passkey.delete', { ...user, passkey_id, has_password: false })),
  );
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
  const refused = outcomes.find((o) => o.status === 'rejected');
  assert.ok(refused && isAppError(refused.reason, 'last_login_method'));
  assert.equal((await mfa.bus.request('mfa.passkey.list', user)).passkeys.length, 1);
});
