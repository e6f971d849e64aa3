import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SoftwareAuthenticator, strangerKey } from '../../services/mfa/test/authenticator.ts';
import { claimsOf, client, type Res, uniqueEmail } from './client.ts';
import { selfCheck, totp } from './totp.ts';

const PASSWORD = 'correct horse battery';

function isError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
}

/** A user with TOTP on: its secret, recovery codes, and a session that is still valid. */
export async function userWithTotp(base: string) {
  const c = client(base);
  const email = uniqueEmail('totp');
  const reg = await c.post('/auth/register', { email, password: PASSWORD });
  const access = reg.body.access_token as string;
  const setup = await c.post('/auth/mfa/totp/setup', undefined, access);
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const secret = setup.body.secret as string;
  const enabled = await c.post('/auth/mfa/totp/enable', { code: totp(secret) }, access);
  assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
  return { c, email, access, secret, recoveryCodes: enabled.body.recovery_codes as string[] };
}

/**
 * Second factors over HTTP. TOTP codes come from RFC 6238 computed in the
 * test (totp.ts), not from the library under test.
 */
export function mfaScenarios(name: string, url: () => string, publicUrl: () => string): void {
  describe(`${name}: TOTP and recovery codes`, () => {
    test('the test TOTP implementation matches RFC 6238', () => selfCheck());

    test('setup gives a secret and an otpauth URL; a wrong code does not enable it', async () => {
      const c = client(url());
      const email = uniqueEmail('setup');
      const reg = await c.post('/auth/register', { email, password: PASSWORD });
      const access = reg.body.access_token as string;
      const setup = await c.post('/auth/mfa/totp/setup', undefined, access);
      assert.equal(setup.status, 200);
      const otpauth = new URL(setup.body.otpauth_url as string);
      assert.equal(otpauth.protocol, 'otpauth:');
      assert.equal(otpauth.searchParams.get('secret'), setup.body.secret);
      assert.equal(otpauth.searchParams.get('issuer'), 'Gatehouse');
      assert.ok(decodeURIComponent(otpauth.pathname).includes(email));
      const wrong = totp(setup.body.secret as string, 5); // far from now
      isError(await c.post('/auth/mfa/totp/enable', { code: wrong }, access), 401, 'invalid_code');
      assert.deepEqual((await c.get('/auth/mfa', access)).body, { totp: false, passkeys: 0, recovery_codes_left: 0 });
      // Without TOTP, a password sign-in still gets tokens.
      const login = await c.post('/auth/login', { email, password: PASSWORD });
      assert.ok(login.body.access_token);
    });

    test('enable, then password + code, replay refused, recovery code once, then disable', async () => {
      const { c, email, access, secret, recoveryCodes } = await userWithTotp(url());
      assert.equal(recoveryCodes.length, 10);
      assert.equal(new Set(recoveryCodes).size, 10);
      const status = await c.get('/auth/mfa', access);
      assert.deepEqual(status.body, { totp: true, passkeys: 0, recovery_codes_left: 10 });
      isError(await c.post('/auth/mfa/totp/setup', undefined, access), 409, 'mfa_already_enabled');
      const me = await c.get('/auth/me', access);
      assert.equal(me.body.mfa_enabled, true);

      // The password alone now answers the challenge, not tokens.
      const first = await c.post('/auth/login', { email, password: PASSWORD });
      assert.equal(first.status, 200);
      assert.equal(first.body.mfa_required, true);
      assert.equal(first.body.access_token, undefined);
      assert.deepEqual((first.body.methods as string[]).sort(), ['recovery_code', 'totp']);
      const mfaToken = first.body.mfa_token as string;
      isError(await c.post('/auth/login/mfa', { mfa_token: mfaToken, code: totp(secret, 4) }), 401, 'invalid_code');
      // The enable used this step's code; the next step's (one step of drift) signs in.
      const next = totp(secret, 1);
      const done = await c.post('/auth/login/mfa', { mfa_token: mfaToken, code: next });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assert.deepEqual(claimsOf(done.body.access_token as string).amr, ['pwd', 'otp']);
      // The challenge is single use, and the accepted code is not accepted again.
      isError(await c.post('/auth/login/mfa', { mfa_token: mfaToken, code: next }), 401, 'invalid_token');
      const second = await c.post('/auth/login', { email, password: PASSWORD });
      isError(await c.post('/auth/login/mfa', { mfa_token: second.body.mfa_token, code: next }), 401, 'invalid_code');

      // The device is lost: a recovery code gets in, once.
      const [rc1, rc2] = recoveryCodes as [string, string];
      const viaRecovery = await c.post('/auth/login/mfa', { mfa_token: second.body.mfa_token, recovery_code: rc1 });
      assert.equal(viaRecovery.status, 200, JSON.stringify(viaRecovery.body));
      const third = await c.post('/auth/login', { email, password: PASSWORD });
      isError(
        await c.post('/auth/login/mfa', { mfa_token: third.body.mfa_token, recovery_code: rc1 }),
        401,
        'invalid_code',
      );
      const newAccess = viaRecovery.body.access_token as string;
      assert.equal((await c.get('/auth/mfa', newAccess)).body.recovery_codes_left, 9);

      // And turns TOTP off with another recovery code: the password alone signs in again.
      const off = await c.post('/auth/mfa/totp/disable', { code: rc2 }, newAccess);
      assert.equal(off.status, 204, JSON.stringify(off.body));
      const plain = await c.post('/auth/login', { email, password: PASSWORD });
      assert.ok(plain.body.access_token, JSON.stringify(plain.body));
      assert.equal((await c.get('/auth/me', plain.body.access_token as string)).body.mfa_enabled, false);
    });

    test('enabling TOTP signs out every other session, at once', async () => {
      const c = client(url());
      const email = uniqueEmail('others');
      const reg = await c.post('/auth/register', { email, password: PASSWORD });
      const other = await c.post('/auth/login', { email, password: PASSWORD });
      const access = reg.body.access_token as string;
      const setup = await c.post('/auth/mfa/totp/setup', undefined, access);
      assert.equal(
        (await c.post('/auth/mfa/totp/enable', { code: totp(setup.body.secret as string) }, access)).status,
        200,
      );
      isError(await c.get('/auth/session', other.body.access_token as string), 401, 'unauthorized');
      assert.equal((await c.get('/auth/session', access)).status, 200);
    });

    test('five wrong codes end the challenge; so does an unknown token', async () => {
      const { c, email, secret } = await userWithTotp(url());
      const challenge = await c.post('/auth/login', { email, password: PASSWORD });
      const mfaToken = challenge.body.mfa_token as string;
      for (let i = 0; i < 5; i++) {
        isError(
          await c.post('/auth/login/mfa', { mfa_token: mfaToken, code: totp(secret, 6 + i) }),
          401,
          'invalid_code',
        );
      }
      isError(await c.post('/auth/login/mfa', { mfa_token: mfaToken, code: totp(secret, 1) }), 401, 'invalid_token');
      isError(await c.post('/auth/login/mfa', { mfa_token: 'x'.repeat(43), code: '123456' }), 401, 'invalid_token');
      isError(await c.post('/auth/login/mfa', { mfa_token: mfaToken }), 400, 'validation_failed');
    });

    test('guests cannot set up second factors; no session is 401', async () => {
      const c = client(url());
      const guest = await c.post('/auth/guest', {});
      const access = guest.body.access_token as string;
      isError(await c.post('/auth/mfa/totp/setup', undefined, access), 403, 'forbidden');
      isError(await c.post('/auth/passkeys/register/options', undefined, access), 403, 'forbidden');
      isError(await c.get('/auth/mfa'), 401, 'unauthorized');
    });
  });

  describe(`${name}: passkeys`, () => {
    /** A signed-in user with one passkey on a fresh software authenticator. */
    async function userWithPasskey() {
      const c = client(url());
      const email = uniqueEmail('passkey');
      const reg = await c.post('/auth/register', { email, password: PASSWORD, name: 'Ada' });
      const access = reg.body.access_token as string;
      const authenticator = new SoftwareAuthenticator({ origin: new URL(publicUrl()).origin });
      const options = await c.post('/auth/passkeys/register/options', undefined, access);
      assert.equal(options.status, 200, JSON.stringify(options.body));
      const created = await c.post(
        '/auth/passkeys/register/verify',
        { response: await authenticator.create(options.body), name: 'Laptop' },
        access,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return { c, email, access, authenticator, userId: (reg.body.user as { id: string }).id, passkey: created.body };
    }

    test('register a passkey, then sign in with it alone, no email and no password', async () => {
      const { c, access, authenticator, userId, passkey } = await userWithPasskey();
      assert.equal(passkey.name, 'Laptop');
      const list = await c.get('/auth/passkeys', access);
      assert.deepEqual(
        (list.body.passkeys as { id: string }[]).map((p) => p.id),
        [passkey.id],
      );
      assert.equal((await c.get('/auth/mfa', access)).body.passkeys, 1);

      const options = await c.post('/auth/passkeys/login/options');
      assert.equal(options.status, 200);
      assert.ok(options.body.challenge_id);
      assert.equal(options.body.allowCredentials ?? undefined, undefined);
      const response = await authenticator.get(options.body);
      const signedIn = await c.post('/auth/passkeys/login/verify', {
        challenge_id: options.body.challenge_id,
        response,
      });
      assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
      assert.equal((signedIn.body.user as { id: string }).id, userId);
      assert.deepEqual(claimsOf(signedIn.body.access_token as string).amr, ['webauthn']);
      // The challenge was used: the same response again is refused.
      const replay = await c.post('/auth/passkeys/login/verify', { challenge_id: options.body.challenge_id, response });
      assert.equal(replay.status, 401);
    });

    test('sign in with an email lists its passkeys; an unknown email looks the same', async () => {
      const { c, email, authenticator } = await userWithPasskey();
      const known = await c.post('/auth/passkeys/login/options', { email });
      const unknownEmail = uniqueEmail('nobody');
      const unknown = await c.post('/auth/passkeys/login/options', { email: unknownEmail });
      assert.deepEqual(Object.keys(known.body).sort(), Object.keys(unknown.body).sort());
      assert.equal((known.body.allowCredentials as unknown[]).length, 1);
      // Stand-ins for an unknown address: one or two ids like real ones, the same ones each time.
      const standIns = (unknown.body.allowCredentials as { id: string }[]).map((c) => c.id);
      assert.ok(standIns.length >= 1 && standIns.length <= 2);
      assert.equal(standIns[0]?.length, (known.body.allowCredentials as { id: string }[])[0]?.id.length);
      const again = await c.post('/auth/passkeys/login/options', { email: unknownEmail });
      assert.deepEqual(
        (again.body.allowCredentials as { id: string }[]).map((c) => c.id),
        standIns,
      );
      const response = await authenticator.get(known.body);
      const signedIn = await c.post('/auth/passkeys/login/verify', { challenge_id: known.body.challenge_id, response });
      assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    });

    test('an assertion signed by another key grants nothing', async () => {
      const { c, authenticator } = await userWithPasskey();
      const options = await c.post('/auth/passkeys/login/options');
      const forged = await authenticator.get(options.body, { signWith: strangerKey() });
      isError(
        await c.post('/auth/passkeys/login/verify', { challenge_id: options.body.challenge_id, response: forged }),
        401,
        'invalid_credentials',
      );
      const wrongOrigin = await c.post('/auth/passkeys/login/options');
      const phished = await authenticator.get(wrongOrigin.body, { origin: 'https://evil.example' });
      isError(
        await c.post('/auth/passkeys/login/verify', { challenge_id: wrongOrigin.body.challenge_id, response: phished }),
        401,
        'invalid_credentials',
      );
    });

    test('a passkey completes the TOTP challenge of a password sign-in', async () => {
      const { c, email, access, authenticator } = await userWithPasskey();
      const setup = await c.post('/auth/mfa/totp/setup', undefined, access);
      assert.equal(
        (await c.post('/auth/mfa/totp/enable', { code: totp(setup.body.secret as string) }, access)).status,
        200,
      );
      const challenge = await c.post('/auth/login', { email, password: PASSWORD });
      assert.ok((challenge.body.methods as string[]).includes('webauthn'));
      const options = await c.post('/auth/passkeys/login/options', { mfa_token: challenge.body.mfa_token });
      assert.equal(options.status, 200, JSON.stringify(options.body));
      const done = await c.post('/auth/login/mfa', {
        mfa_token: challenge.body.mfa_token,
        webauthn: await authenticator.get(options.body),
      });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assert.deepEqual(claimsOf(done.body.access_token as string).amr, ['pwd', 'webauthn']);
    });

    test('a passkey can be deleted by its owner only, and then signs in no more', async () => {
      const { c, access, authenticator, passkey } = await userWithPasskey();
      const stranger = await c.post('/auth/register', { email: uniqueEmail('stranger'), password: PASSWORD });
      isError(await c.del(`/auth/passkeys/${passkey.id}`, stranger.body.access_token as string), 404, 'not_found');
      assert.equal((await c.del(`/auth/passkeys/${passkey.id}`, access)).status, 204);
      isError(await c.del(`/auth/passkeys/${passkey.id}`, access), 404, 'not_found');
      const options = await c.post('/auth/passkeys/login/options');
      const credentialId = authenticator.credentials[0]?.id as string;
      const response = await authenticator.get(options.body, { credentialId });
      isError(
        await c.post('/auth/passkeys/login/verify', { challenge_id: options.body.challenge_id, response }),
        401,
        'invalid_credentials',
      );
    });
  });
}
