import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SoftwareAuthenticator } from '../../services/mfa/test/authenticator.ts';
import { type Client, claimsOf, client, type Res, uniqueEmail } from './client.ts';
import { linkIn, type Mailbox, withLink } from './mailbox.ts';
import { totp } from './totp.ts';

const PASSWORD = 'correct horse battery';

function isError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
  assert.equal(typeof res.body.message, 'string');
}

interface Account {
  c: Client;
  email: string;
  id: string;
  access: string;
  refresh: string;
  sid: string;
}

async function account(base: string, tag: string, name = tag): Promise<Account> {
  const c = client(base);
  const email = uniqueEmail(tag);
  const res = await c.post('/auth/register', { email, password: PASSWORD, name });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const access = res.body.access_token as string;
  return {
    c,
    email,
    id: (res.body.user as { id: string }).id,
    access,
    refresh: res.body.refresh_token as string,
    sid: claimsOf(access).sid as string,
  };
}

/**
 * Trust: what one signed-in user can do to another. Run against both modes.
 * `mailbox` reads the mail the server sent (a real SMTP server).
 */
export function trustScenarios(name: string, url: () => string, publicUrl: () => string, mailbox: () => Mailbox): void {
  /** The token of the newest mail of `type` to `email`, once it has arrived. */
  const tokenMailed = async (email: string, type: string, n = 1) => {
    const mail = await mailbox().waitFor(email, n, withLink(type));
    return linkIn(mail.text).searchParams.get('token') ?? '';
  };

  describe(`${name}: one user cannot act as another`, () => {
    test("no authenticated route takes another user's user_id, project_id or session_id from the body", async () => {
      const attacker = await account(url(), 'attacker');
      const victim = await account(url(), 'victim', 'Victim');
      const foreign = {
        user_id: victim.id,
        project_id: '00000000-0000-7000-8000-00000000beef',
        session_id: victim.sid,
      };
      const a = attacker.c;
      const routes: { method: 'post' | 'patch' | 'del'; path: string; body: Record<string, unknown> }[] = [
        { method: 'patch', path: '/auth/me', body: { name: 'pwned' } },
        // The victim's real password, even: the body must not pick whose password it is.
        {
          method: 'post',
          path: '/auth/password/change',
          body: { current_password: PASSWORD, new_password: 'pwned pwned pwned' },
        },
        { method: 'del', path: '/auth/me', body: { password: PASSWORD } },
        { method: 'post', path: '/auth/logout', body: {} },
        { method: 'post', path: '/auth/logout-all', body: {} },
        { method: 'del', path: `/auth/sessions/${attacker.sid}`, body: {} },
        { method: 'post', path: '/auth/email/resend', body: {} },
        { method: 'post', path: '/auth/mfa/totp/setup', body: {} },
        { method: 'post', path: '/auth/mfa/totp/enable', body: { code: '123456' } },
        { method: 'post', path: '/auth/mfa/totp/disable', body: { code: '123456' } },
        { method: 'post', path: '/auth/mfa/recovery-codes', body: { code: '123456' } },
        { method: 'post', path: '/auth/passkeys/register/options', body: {} },
        { method: 'post', path: '/auth/passkeys/register/verify', body: { response: {} } },
        { method: 'del', path: '/auth/passkeys/00000000-0000-7000-8000-000000000001', body: {} },
        { method: 'post', path: '/auth/guest/convert', body: { email: uniqueEmail('conv'), password: PASSWORD } },
        { method: 'post', path: '/auth/refresh', body: { refresh_token: attacker.refresh } },
      ];
      for (const route of routes) {
        for (const [field, value] of Object.entries(foreign)) {
          const body = { ...route.body, [field]: value };
          const res =
            route.method === 'del'
              ? await a.del(route.path, attacker.access, body)
              : await a[route.method](route.path, body, attacker.access);
          isError(res, 400, 'validation_failed');
          assert.deepEqual(
            (res.body.details as { field: string }[]).map((d) => d.field),
            [field],
            `${route.method} ${route.path} with ${field}`,
          );
        }
      }
      // Query strings name no one either: the token does.
      const me = await a.get(`/auth/me?user_id=${victim.id}`, attacker.access);
      assert.equal(me.body.id, attacker.id);
      const sessions = await a.get(`/auth/sessions?user_id=${victim.id}`, attacker.access);
      assert.deepEqual(
        (sessions.body.sessions as { user_id: string }[]).map((s) => s.user_id),
        [attacker.id],
      );

      // The victim is untouched: same name, same password, session alive, no TOTP.
      const v = victim.c;
      assert.equal((await v.get('/auth/session', victim.access)).status, 200);
      const victimMe = await v.get('/auth/me', victim.access);
      assert.equal(victimMe.body.name, 'Victim');
      assert.equal(victimMe.body.mfa_enabled, false);
      assert.equal((await v.post('/auth/login', { email: victim.email, password: PASSWORD })).status, 200);
      // And the attacker's own calls, without foreign fields, still act on the attacker only.
      const renamed = await a.patch('/auth/me', { name: 'Mallory' }, attacker.access);
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.id, attacker.id);
      assert.equal((await v.get('/auth/me', victim.access)).body.name, 'Victim');
    });

    test('concurrent wrong passwords from one address get no more tries than the limit; the owner elsewhere is not locked', async () => {
      // TEST_SERVER_ENV: LOGIN_FAILURES_PER_ACCOUNT=5 per (account, client). Each guess claims its try
      // before argon2 runs, so 20 guesses in flight at once cannot all be checked. (Many addresses at
      // once: lockout-scenarios.ts.)
      const { email } = await account(url(), 'guessed');
      const guesser = client(url());
      const guesses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => guesser.post('/auth/login', { email, password: `wrong guess ${i}` })),
      );
      const statuses = guesses.map((g) => g.status).sort();
      assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join());
      assert.equal(statuses.filter((s) => s === 429).length, 15, statuses.join());
      // The guesser's address is locked out for the window, even with the right password; the owner
      // from another address is not (the limit is per account and client).
      isError(await guesser.post('/auth/login', { email, password: PASSWORD }), 429, 'rate_limited');
      assert.equal((await client(url()).post('/auth/login', { email, password: PASSWORD })).status, 200);
    });

    test("another user's session cannot be ended by id", async () => {
      const attacker = await account(url(), 'attacker');
      const victim = await account(url(), 'victim');
      isError(await attacker.c.del(`/auth/sessions/${victim.sid}`, attacker.access), 404, 'not_found');
      assert.equal((await victim.c.get('/auth/session', victim.access)).status, 200);
    });
  });

  describe(`${name}: a stolen access token does not become a permanent takeover`, () => {
    test('adding or removing a sign-in method needs a recent sign-in, the password or a code; the owner is mailed', async () => {
      const owner = await account(url(), 'stepup');
      const { c, access } = owner;
      // TEST_SERVER_ENV: RECENT_SIGN_IN_SECONDS=8. The token is still valid (15 minutes), the sign-in is not recent.
      await new Promise((r) => setTimeout(r, 9_000));
      isError(await c.post('/auth/passkeys/register/options', undefined, access), 403, 'reauthentication_required');
      isError(
        await c.post('/auth/passkeys/register/options', { password: 'not my password' }, access),
        401,
        'invalid_credentials',
      );
      const options = await c.post('/auth/passkeys/register/options', { password: PASSWORD }, access);
      assert.equal(options.status, 200, JSON.stringify(options.body));
      const authenticator = new SoftwareAuthenticator({ origin: new URL(publicUrl()).origin });
      const created = await c.post(
        '/auth/passkeys/register/verify',
        { response: await authenticator.create(options.body), name: 'Mallory laptop' },
        access,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const notice = await mailbox().waitFor(owner.email, 1, (m) => m.text.includes('Mallory laptop'));
      assert.match(notice.subject, /sign-in method was added/);

      const setup = await c.post('/auth/mfa/totp/setup', undefined, access);
      assert.equal(setup.status, 200, JSON.stringify(setup.body));
      const secret = setup.body.secret as string;
      isError(await c.post('/auth/mfa/totp/enable', { code: totp(secret) }, access), 403, 'reauthentication_required');
      const enabled = await c.post('/auth/mfa/totp/enable', { code: totp(secret), password: PASSWORD }, access);
      assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
      await mailbox().waitFor(owner.email, 1, (m) => m.text.includes('An authenticator app'));

      const passkeyId = created.body.id as string;
      isError(await c.del(`/auth/passkeys/${passkeyId}`, access), 403, 'reauthentication_required');
      isError(await c.del(`/auth/passkeys/${passkeyId}`, access, { code: '000000' }), 401, 'invalid_code');
      // A TOTP code is a second factor: enough to remove a passkey. (The step after the enable's.)
      assert.equal((await c.del(`/auth/passkeys/${passkeyId}`, access, { code: totp(secret, 1) })).status, 204);
    });

    test('a password reset removes the factors a thief added, and signs everyone out', async () => {
      const owner = await account(url(), 'reset-factors');
      const { c, access } = owner;
      // The thief, with a fresh token, adds a passkey and TOTP of their own.
      const options = await c.post('/auth/passkeys/register/options', undefined, access);
      const authenticator = new SoftwareAuthenticator({ origin: new URL(publicUrl()).origin });
      const created = await c.post(
        '/auth/passkeys/register/verify',
        { response: await authenticator.create(options.body) },
        access,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const setup = await c.post('/auth/mfa/totp/setup', undefined, access);
      const enabled = await c.post('/auth/mfa/totp/enable', { code: totp(setup.body.secret as string) }, access);
      assert.equal(enabled.status, 200);
      // The owner resets the password from the mailed link.
      assert.equal((await client(url()).post('/auth/password/forgot', { email: owner.email })).status, 202);
      const token = await tokenMailed(owner.email, 'reset_password');
      const reset = await client(url()).post('/auth/password/reset', { token, password: 'the owner is back' });
      assert.equal(reset.status, 204, JSON.stringify(reset.body));
      assert.equal((await c.get('/auth/session', access)).status, 401);
      // No challenge from the thief's TOTP, and the thief's passkey is gone.
      const login = await client(url()).post('/auth/login', { email: owner.email, password: 'the owner is back' });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.ok(login.body.access_token, 'tokens, not an MFA challenge');
      const status = await client(url()).get('/auth/mfa', login.body.access_token as string);
      assert.deepEqual(status.body, { totp: false, passkeys: 0, recovery_codes_left: 0 });
    });
  });

  describe(`${name}: an address proven for the first time belongs to its owner`, () => {
    test("pre-registration: the attacker's password and session stop working once the owner signs in by magic link", async () => {
      const email = uniqueEmail('preregistered');
      const attacker = client(url());
      const reg = await attacker.post('/auth/register', { email, password: PASSWORD });
      assert.equal(reg.status, 201);
      const attackerAccess = reg.body.access_token as string;
      // The real owner of the address signs in by magic link.
      const owner = client(url());
      assert.equal((await owner.post('/auth/magic-link', { email })).status, 202);
      const signedIn = await owner.post('/auth/magic-link/verify', { token: await tokenMailed(email, 'magic_link') });
      assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
      assert.equal((signedIn.body.user as { email_verified: boolean }).email_verified, true);
      // The attacker is out: the old session is refused, the password no longer signs in.
      isError(await attacker.get('/auth/session', attackerAccess), 401, 'unauthorized');
      isError(await attacker.post('/auth/login', { email, password: PASSWORD }), 401, 'invalid_credentials');
      assert.equal((await owner.get('/auth/session', signedIn.body.access_token as string)).status, 200);
    });
  });
}
