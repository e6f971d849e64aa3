import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isAppError } from '@gatehouse/kit';
import { SoftwareAuthenticator, strangerKey } from '../../test/authenticator.ts';
import { startTestMfa, type TestMfa } from '../../test/mfa-harness.ts';
import { totp } from '../../test/totp.ts';

let mfa: TestMfa;
before(async () => {
  mfa = await startTestMfa({ corsOrigins: 'https://app.example.test' });
});
after(() => mfa.close());

const rejectsWith = (promise: Promise<unknown>, errorCode: Parameters<typeof isAppError>[1]) =>
  assert.rejects(promise, (err) => isAppError(err, errorCode));

type User = { project_id: string; user_id: string };

/** Registers a passkey of `authenticator` for `user`; returns the stored passkey. */
async function register(user: User, authenticator: SoftwareAuthenticator, name?: string) {
  const { options } = await mfa.bus.request('mfa.passkey.register_options', {
    ...user,
    user_name: 'carol@example.test',
    user_display_name: 'Carol',
  });
  const response = await authenticator.create(options);
  const { passkey } = await mfa.bus.request('mfa.passkey.register_verify', {
    ...user,
    response,
    ...(name ? { name } : {}),
  });
  return passkey;
}

async function userWithPasskey() {
  const user = mfa.newUser();
  const authenticator = new SoftwareAuthenticator({ origin: mfa.origin });
  const passkey = await register(user, authenticator);
  return { user, authenticator, passkey };
}

const loginOptions = (target: { user_id?: string; mfa_token?: string; email_hint?: string } = {}) =>
  mfa.bus.request('mfa.passkey.login_options', { project_id: mfa.newUser().project_id, ...target });

const loginVerify = (challenge_id: string, response: Record<string, unknown>) =>
  mfa.bus.request('mfa.passkey.login_verify', { project_id: mfa.newUser().project_id, challenge_id, response });

const allowed = (options: Record<string, unknown>) =>
  ((options.allowCredentials as { id: string }[] | undefined) ?? []).map((c) => c.id);

describe('passkey registration', () => {
  test('asks for a discoverable credential on PUBLIC_URL host, and stores it', async () => {
    const user = mfa.newUser();
    const { options } = await mfa.bus.request('mfa.passkey.register_options', {
      ...user,
      user_name: 'carol@example.test',
      user_display_name: 'Carol',
    });
    assert.deepEqual(options.rp, { name: 'Gatehouse', id: 'auth.example.test' });
    assert.deepEqual(options.authenticatorSelection, {
      residentKey: 'required',
      requireResidentKey: true,
      userVerification: 'preferred',
    });
    assert.equal(options.attestation, 'none');
    const authenticator = new SoftwareAuthenticator({ origin: mfa.origin });
    const { passkey } = await mfa.bus.request('mfa.passkey.register_verify', {
      ...user,
      response: await authenticator.create(options),
    });
    assert.equal(passkey.name, 'Passkey');
    assert.equal(passkey.last_used_at, null);
    assert.deepEqual(await mfa.bus.request('mfa.passkey.list', user), { passkeys: [passkey] });
    assert.deepEqual(await mfa.bus.request('mfa.status.get', user), {
      totp: false,
      passkeys: 1,
      recovery_codes_left: 0,
    });
    assert.deepEqual(
      mfa.changes.filter((e) => e.user_id === user.user_id).map((e) => `${e.factor}:${e.change}`),
      ['passkey:enabled'],
    );
    const row = await mfa.database.db
      .selectFrom('mfa_passkeys')
      .selectAll()
      .where('id', '=', passkey.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.credential_id, authenticator.credentials[0]?.id);
    assert.deepEqual(row.transports, ['internal', 'hybrid']);
    assert.equal(Number(row.counter), 0);
  });

  test('excludes the passkeys the user has, and keeps a given name', async () => {
    const { user, authenticator, passkey } = await userWithPasskey();
    const { options } = await mfa.bus.request('mfa.passkey.register_options', {
      ...user,
      user_name: 'carol@example.test',
      user_display_name: 'Carol',
    });
    assert.deepEqual(
      (options.excludeCredentials as { id: string }[]).map((c) => c.id),
      [authenticator.credentials[0]?.id],
    );
    await assert.rejects(authenticator.create(options), /InvalidStateError/);
    const second = await register(user, new SoftwareAuthenticator({ origin: mfa.origin }), '  Laptop ');
    assert.equal(second.name, 'Laptop');
    assert.deepEqual(
      (await mfa.bus.request('mfa.passkey.list', user)).passkeys.map((p) => p.id),
      [passkey.id, second.id],
    );
  });

  test("refuses a used challenge, another user's challenge, a foreign origin and a malformed response", async () => {
    const user = mfa.newUser();
    const authenticator = new SoftwareAuthenticator({ origin: mfa.origin });
    const { options } = await mfa.bus.request('mfa.passkey.register_options', {
      ...user,
      user_name: 'c@example.test',
      user_display_name: 'C',
    });
    const response = await authenticator.create(options);
    await rejectsWith(
      mfa.bus.request('mfa.passkey.register_verify', { ...mfa.newUser(), response }),
      'invalid_challenge',
    );
    await mfa.bus.request('mfa.passkey.register_verify', { ...user, response });
    await rejectsWith(mfa.bus.request('mfa.passkey.register_verify', { ...user, response }), 'invalid_challenge');

    const again = await mfa.bus.request('mfa.passkey.register_options', {
      ...user,
      user_name: 'c@example.test',
      user_display_name: 'C',
    });
    const phished = await new SoftwareAuthenticator({ origin: 'https://evil.example' }).create(again.options);
    await rejectsWith(
      mfa.bus.request('mfa.passkey.register_verify', { ...user, response: phished }),
      'validation_failed',
    );
    await rejectsWith(
      mfa.bus.request('mfa.passkey.register_verify', { ...user, response: { id: 'x' } }),
      'validation_failed',
    );
  });
});

describe('passwordless sign-in', () => {
  test('a registered passkey signs in with no username: amr ["webauthn"]', async () => {
    const { user, authenticator, passkey } = await userWithPasskey();
    const { challenge_id, options } = await loginOptions();
    assert.equal(options.allowCredentials, undefined);
    assert.equal(options.userVerification, 'required');
    assert.equal(options.rpId, 'auth.example.test');
    const verified = await loginVerify(challenge_id, await authenticator.get(options));
    assert.deepEqual(verified, { ...user, amr: ['webauthn'] });
    const [listed] = (await mfa.bus.request('mfa.passkey.list', user)).passkeys;
    assert.equal(listed?.id, passkey.id);
    assert.equal(listed?.last_used_at, mfa.clock.now().toISOString());
  });

  test("options for a user_id list that user's passkeys, and sign in", async () => {
    const { user, authenticator } = await userWithPasskey();
    const { challenge_id, options } = await loginOptions({ user_id: user.user_id });
    assert.deepEqual(allowed(options), [authenticator.credentials[0]?.id]);
    assert.deepEqual(await loginVerify(challenge_id, await authenticator.get(options)), {
      ...user,
      amr: ['webauthn'],
    });
  });

  test("options for one user refuse another user's passkey", async () => {
    const alice = await userWithPasskey();
    const bob = await userWithPasskey();
    const { challenge_id, options } = await loginOptions({ user_id: alice.user.user_id });
    const response = await bob.authenticator.get(options, { credentialId: bob.authenticator.credentials[0]!.id });
    await rejectsWith(loginVerify(challenge_id, response), 'invalid_credentials');
  });

  test('a signature from another key is refused', async () => {
    const { authenticator } = await userWithPasskey();
    const { challenge_id, options } = await loginOptions();
    await rejectsWith(
      loginVerify(challenge_id, await authenticator.get(options, { signWith: strangerKey() })),
      'invalid_credentials',
    );
  });

  test('a used challenge is refused, and so is a response replayed on a new challenge', async () => {
    const { authenticator } = await userWithPasskey();
    const first = await loginOptions();
    const response = await authenticator.get(first.options);
    await loginVerify(first.challenge_id, response);
    await rejectsWith(loginVerify(first.challenge_id, response), 'invalid_sign_in_challenge');
    const second = await loginOptions();
    await rejectsWith(loginVerify(second.challenge_id, response), 'invalid_credentials');
  });

  test('a failed attempt uses the challenge up too', async () => {
    const { authenticator } = await userWithPasskey();
    const { challenge_id, options } = await loginOptions();
    await rejectsWith(
      loginVerify(challenge_id, await authenticator.get(options, { signWith: strangerKey() })),
      'invalid_credentials',
    );
    await rejectsWith(loginVerify(challenge_id, await authenticator.get(options)), 'invalid_sign_in_challenge');
  });

  test('an expired challenge is refused', async () => {
    const { authenticator } = await userWithPasskey();
    const { challenge_id, options } = await loginOptions();
    const response = await authenticator.get(options);
    mfa.clock.advance(301);
    await rejectsWith(loginVerify(challenge_id, response), 'invalid_sign_in_challenge');
  });

  test('a counter that goes backwards is refused; one that grows is recorded', async () => {
    const { authenticator, passkey } = await userWithPasskey();
    for (let i = 0; i < 2; i++) {
      const { challenge_id, options } = await loginOptions();
      await loginVerify(challenge_id, await authenticator.get(options));
    }
    const row = () =>
      mfa.database.db
        .selectFrom('mfa_passkeys')
        .select('counter')
        .where('id', '=', passkey.id)
        .executeTakeFirstOrThrow();
    assert.equal(Number((await row()).counter), 2);
    const { challenge_id, options } = await loginOptions();
    await rejectsWith(
      loginVerify(challenge_id, await authenticator.get(options, { counter: 1 })),
      'invalid_credentials',
    );
    assert.equal(Number((await row()).counter), 2);
  });

  test('an authenticator that keeps no counter (always 0) signs in every time', async () => {
    const user = mfa.newUser();
    const authenticator = new SoftwareAuthenticator({ origin: mfa.origin, signCount: 'none' });
    await register(user, authenticator);
    for (let i = 0; i < 2; i++) {
      const { challenge_id, options } = await loginOptions();
      assert.equal((await loginVerify(challenge_id, await authenticator.get(options))).user_id, user.user_id);
    }
  });

  test('a wrong origin or RP ID is refused; a CORS origin is accepted', async () => {
    const { authenticator } = await userWithPasskey();
    for (const tampering of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }]) {
      const { challenge_id, options } = await loginOptions();
      await rejectsWith(loginVerify(challenge_id, await authenticator.get(options, tampering)), 'invalid_credentials');
    }
    const { challenge_id, options } = await loginOptions();
    await loginVerify(challenge_id, await authenticator.get(options, { origin: 'https://app.example.test' }));
  });

  test('a passkey without user verification does not sign in alone', async () => {
    const user = mfa.newUser();
    const authenticator = new SoftwareAuthenticator({ origin: mfa.origin, userVerification: false });
    await register(user, authenticator);
    const { challenge_id, options } = await loginOptions();
    await rejectsWith(loginVerify(challenge_id, await authenticator.get(options)), 'invalid_credentials');
  });

  test('an unknown address gets the same stand-in credentials every time; a user without passkeys too', async () => {
    const a1 = await loginOptions({ email_hint: 'nobody@example.test' });
    const a2 = await loginOptions({ email_hint: ' Nobody@Example.test' });
    // NFC and NFD, Unicode and punycode spellings of one unknown mailbox: one set of stand-ins,
    // as every spelling of a known mailbox finds the same passkeys.
    const nfc = await loginOptions({ email_hint: 'jos\u00e9@b\u00fccher.example' });
    const nfd = await loginOptions({ email_hint: 'JOSE\u0301@xn--bcher-kva.example' });
    assert.deepEqual(allowed(nfc.options), allowed(nfd.options));
    const b = await loginOptions({ email_hint: 'someone-else@example.test' });
    assert.ok(allowed(a1.options).length >= 1);
    assert.deepEqual(allowed(a1.options), allowed(a2.options));
    assert.notDeepEqual(allowed(a1.options), allowed(b.options));
    for (const id of allowed(a1.options)) assert.equal(Buffer.from(id, 'base64url').length, 32);
    assert.notEqual(a1.options.challenge, a2.options.challenge);

    const lonely = mfa.newUser();
    const c1 = await loginOptions({ user_id: lonely.user_id });
    const c2 = await loginOptions({ user_id: lonely.user_id });
    assert.ok(allowed(c1.options).length >= 1);
    assert.deepEqual(allowed(c1.options), allowed(c2.options));
  });
});

describe('a passkey as the second factor', () => {
  test('completes an MFA challenge: amr ["pwd","webauthn"]', async () => {
    const { user, authenticator } = await userWithPasskey();
    const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'c@example.test' });
    await mfa.bus.request('mfa.totp.enable', { ...user, code: totp(secret, mfa.clock.now()) });

    const { mfa_token, methods } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
    assert.deepEqual(methods, ['totp', 'recovery_code', 'webauthn']);
    const { challenge_id, options } = await loginOptions({ mfa_token });
    assert.deepEqual(allowed(options), [authenticator.credentials[0]?.id]);
    assert.equal(options.userVerification, 'preferred');
    const response = await authenticator.get(options);
    // Options made for a challenge are not a passwordless sign-in.
    await rejectsWith(loginVerify(challenge_id, response), 'invalid_sign_in_challenge');
    assert.deepEqual(await mfa.bus.request('mfa.challenge.verify', { mfa_token, webauthn: response }), {
      ...user,
      amr: ['pwd', 'webauthn'],
    });
  });

  test("refuses another user's passkey and a response to other options, counting the tries", async () => {
    const { user, authenticator } = await userWithPasskey();
    const stranger = await userWithPasskey();
    const { secret } = await mfa.bus.request('mfa.totp.setup', { ...user, account_name: 'c@example.test' });
    await mfa.bus.request('mfa.totp.enable', { ...user, code: totp(secret, mfa.clock.now()) });
    const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });

    const forChallenge = await loginOptions({ mfa_token });
    const foreign = await stranger.authenticator.get(forChallenge.options, {
      credentialId: stranger.authenticator.credentials[0]!.id,
    });
    await rejectsWith(mfa.bus.request('mfa.challenge.verify', { mfa_token, webauthn: foreign }), 'invalid_credentials');

    const passwordless = await loginOptions();
    const unbound = await authenticator.get(passwordless.options);
    await rejectsWith(mfa.bus.request('mfa.challenge.verify', { mfa_token, webauthn: unbound }), 'invalid_credentials');
    await rejectsWith(
      mfa.bus.request('mfa.challenge.verify', { mfa_token, webauthn: { not: 'a response' } }),
      'invalid_credentials',
    );
    const { attempts } = await mfa.database.db
      .selectFrom('mfa_challenges')
      .select('attempts')
      .where('user_id', '=', user.user_id)
      .executeTakeFirstOrThrow();
    assert.equal(attempts, 3);
  });

  test('options for an unknown MFA token are invalid_token', async () => {
    await rejectsWith(loginOptions({ mfa_token: 'nope' }), 'invalid_token');
  });
});

describe('deleting a passkey', () => {
  test("another user's passkey is not_found", async () => {
    const { passkey } = await userWithPasskey();
    await rejectsWith(
      mfa.bus.request('mfa.passkey.delete', { ...mfa.newUser(), passkey_id: passkey.id, has_password: true }),
      'not_found',
    );
  });

  test('the last passkey of a user with no password is last_login_method; with a password it goes', async () => {
    const { user, passkey } = await userWithPasskey();
    await rejectsWith(
      mfa.bus.request('mfa.passkey.delete', { ...user, passkey_id: passkey.id, has_password: false }),
      'last_login_method',
    );
    const second = await register(user, new SoftwareAuthenticator({ origin: mfa.origin }));
    await mfa.bus.request('mfa.passkey.delete', { ...user, passkey_id: passkey.id, has_password: false });
    await rejectsWith(
      mfa.bus.request('mfa.passkey.delete', { ...user, passkey_id: second.id, has_password: false }),
      'last_login_method',
    );
    await mfa.bus.request('mfa.passkey.delete', { ...user, passkey_id: second.id, has_password: true });
    assert.deepEqual(await mfa.bus.request('mfa.passkey.list', user), { passkeys: [] });
    assert.deepEqual(
      mfa.changes.filter((e) => e.user_id === user.user_id).map((e) => `${e.factor}:${e.change}`),
      ['passkey:enabled', 'passkey:enabled', 'passkey:disabled', 'passkey:disabled'],
    );
  });

  test('a deleted passkey no longer signs in', async () => {
    const { user, authenticator, passkey } = await userWithPasskey();
    await mfa.bus.request('mfa.passkey.delete', { ...user, passkey_id: passkey.id, has_password: true });
    const { challenge_id, options } = await loginOptions();
    await rejectsWith(
      loginVerify(challenge_id, await authenticator.get(options, { credentialId: authenticator.credentials[0]!.id })),
      'invalid_credentials',
    );
  });
});
