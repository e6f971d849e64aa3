import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { claimsOf, client, type Res, uniqueEmail } from './client.ts';
import { linkIn, type Mailbox, withLink } from './mailbox.ts';
import { userWithTotp } from './mfa-scenarios.ts';
import { totp } from './totp.ts';

/** What the servers under test must run with for these scenarios (on top of TEST_SERVER_ENV). */
export const EMAIL_SERVER_ENV = {
  REDIRECT_ALLOWLIST: 'http://app.test,https://shop.example/account/',
  MAIL_PER_ADDRESS_PER_HOUR: '3',
  MAIL_FROM: 'Gatehouse Tests <auth@example.test>',
};

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';

function isError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
  assert.equal(typeof res.body.message, 'string');
}

/** The token and type of a link; checks the message has both parts and the link in each. */
function tokenOf(mail: { text: string; html: string }, type: string): { link: URL; token: string } {
  const link = linkIn(mail.text);
  assert.equal(link.searchParams.get('type'), type);
  // The HTML part carries the same link (its & escaped as &amp; in the attribute).
  assert.ok(mail.html.replaceAll('&amp;', '&').includes(link.toString()), 'the HTML part has the link');
  return { link, token: link.searchParams.get('token') ?? '' };
}

/**
 * Verification, password reset and magic links end to end: the request over
 * HTTP, the mail read from a real SMTP server, the link's token used over HTTP.
 */
export function emailScenarios(name: string, url: () => string, publicUrl: () => string, mailbox: () => Mailbox) {
  describe(`${name}: email flows`, () => {
    test('register mails a verification link (text and HTML) that verifies the address once', async () => {
      const c = client(url());
      const email = uniqueEmail('verify');
      const reg = await c.post('/auth/register', { email, password: PASSWORD, name: 'Ada <script>' });
      assert.equal(reg.status, 201);
      const mail = await mailbox().waitFor(email);
      assert.equal(mail.from.includes('auth@example.test'), true);
      assert.ok(mail.subject.length > 0);
      assert.ok(mail.text.length > 0 && mail.html.length > 0);
      // The name is a variable: escaped in HTML, as typed in text.
      assert.ok(!mail.html.includes('<script>'));
      const { link, token } = tokenOf(mail, 'verify_email');
      assert.equal(`${link.origin}${link.pathname}`, `${publicUrl()}/auth/confirm`);

      const verified = await c.post('/auth/email/verify', { token });
      assert.equal(verified.status, 200, JSON.stringify(verified.body));
      assert.equal(verified.body.email_verified, true);
      assert.equal(verified.body.email, email);
      const me = await c.get('/auth/me', reg.body.access_token as string);
      assert.equal(me.body.email_verified, true);
      isError(await c.post('/auth/email/verify', { token }), 400, 'invalid_token');
    });

    test('a bad token is 400 invalid_token; a missing one is validation_failed', async () => {
      const c = client(url());
      isError(await c.post('/auth/email/verify', { token: 'A'.repeat(43) }), 400, 'invalid_token');
      isError(await c.post('/auth/magic-link/verify', { token: 'nope' }), 400, 'invalid_token');
      isError(await c.post('/auth/password/reset', { token: 'nope', password: NEW_PASSWORD }), 400, 'invalid_token');
      isError(await c.post('/auth/email/verify', {}), 400, 'validation_failed');
      isError(await c.post('/auth/password/reset', { token: 'nope', password: 'short' }), 400, 'validation_failed');
      isError(await c.post('/auth/password/forgot', { email: 'not-an-email' }), 400, 'validation_failed');
    });

    test('resend needs a session and mails a new link; the old one dies', async () => {
      const c = client(url());
      const email = uniqueEmail('resend');
      const reg = await c.post('/auth/register', { email, password: PASSWORD });
      const first = tokenOf(await mailbox().waitFor(email, 1, withLink('verify_email')), 'verify_email').token;
      isError(await c.post('/auth/email/resend', {}), 401, 'unauthorized');
      const resent = await c.post('/auth/email/resend', undefined, reg.body.access_token as string);
      assert.equal(resent.status, 202);
      assert.deepEqual(resent.body, {});
      const second = tokenOf(await mailbox().waitFor(email, 2, withLink('verify_email')), 'verify_email').token;
      isError(await c.post('/auth/email/verify', { token: first }), 400, 'invalid_token');
      assert.equal((await c.post('/auth/email/verify', { token: second })).status, 200);
    });

    test('forgot answers the same for known and unknown addresses and mails only the known one', async () => {
      const c = client(url());
      const known = uniqueEmail('known');
      await c.post('/auth/register', { email: known, password: PASSWORD });
      await mailbox().waitFor(known, 1); // the verification mail
      const unknown = uniqueEmail('unknown');
      const started = performance.now();
      const a = await c.post('/auth/password/forgot', { email: unknown });
      const unknownMs = performance.now() - started;
      const b = await c.post('/auth/password/forgot', { email: known });
      assert.equal(a.status, 202);
      assert.equal(b.status, 202);
      assert.deepEqual(a.body, {});
      assert.deepEqual(b.body, {});
      // Both wait out the same floor, whatever the work behind them.
      assert.ok(unknownMs >= 240, `the unknown address answered after ${unknownMs} ms`);
      tokenOf(await mailbox().waitFor(known, 1, withLink('reset_password')), 'reset_password');
      assert.equal(mailbox().to(unknown).length, 0);
    });

    test('a reset sets the password once and signs every session out at once', async () => {
      const c = client(url());
      const email = uniqueEmail('reset');
      const reg = await c.post('/auth/register', { email, password: PASSWORD });
      const other = await c.post('/auth/login', { email, password: PASSWORD });
      const accesses = [reg.body.access_token as string, other.body.access_token as string];
      assert.equal((await c.post('/auth/password/forgot', { email })).status, 202);
      const { token } = tokenOf(await mailbox().waitFor(email, 1, withLink('reset_password')), 'reset_password');

      const reset = await c.post('/auth/password/reset', { token, password: NEW_PASSWORD });
      assert.equal(reset.status, 204, JSON.stringify(reset.body));
      for (const access of accesses) isError(await c.get('/auth/session', access), 401, 'unauthorized');
      isError(await c.post('/auth/refresh', { refresh_token: reg.body.refresh_token }), 401, 'invalid_grant');
      isError(await c.post('/auth/login', { email, password: PASSWORD }), 401, 'invalid_credentials');
      const login = await c.post('/auth/login', { email, password: NEW_PASSWORD });
      assert.equal(login.status, 200);
      assert.equal((login.body.user as { email_verified: boolean }).email_verified, true);
      isError(await c.post('/auth/password/reset', { token, password: 'another new password' }), 400, 'invalid_token');
      // The owner hears of it.
      const notice = await mailbox().waitFor(email, 1, (m) => !m.text.includes('token='));
      assert.ok(/password/i.test(notice.subject), notice.subject);
    });

    test('a magic link signs up an unknown address, verified, and works once', async () => {
      const c = client(url());
      const email = uniqueEmail('magic');
      const sent = await c.post('/auth/magic-link', { email });
      assert.equal(sent.status, 202);
      assert.deepEqual(sent.body, {});
      const { token } = tokenOf(await mailbox().waitFor(email, 1, withLink('magic_link')), 'magic_link');
      const signedIn = await c.post('/auth/magic-link/verify', { token });
      assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
      const user = signedIn.body.user as { email: string; email_verified: boolean; role: string };
      assert.equal(user.email, email);
      assert.equal(user.email_verified, true);
      assert.equal(user.role, 'user');
      assert.deepEqual(claimsOf(signedIn.body.access_token as string).amr, ['magic_link']);
      assert.equal((await c.get('/auth/session', signedIn.body.access_token as string)).status, 200);
      isError(await c.post('/auth/magic-link/verify', { token }), 400, 'invalid_token');
      // No password was set: password sign-in fails as for anyone.
      isError(await c.post('/auth/login', { email, password: PASSWORD }), 401, 'invalid_credentials');
    });

    test('a magic link signs a known user in, in cookie mode too', async () => {
      const c = client(url());
      const email = uniqueEmail('magic-known');
      const reg = await c.post('/auth/register', { email, password: PASSWORD });
      await c.post('/auth/magic-link', { email });
      const { token } = tokenOf(await mailbox().waitFor(email, 1, withLink('magic_link')), 'magic_link');
      const res = await c.post('/auth/magic-link/verify', { token, auth_mode: 'cookie' });
      assert.equal(res.status, 200);
      assert.equal((res.body.user as { id: string }).id, (reg.body.user as { id: string }).id);
      assert.equal(res.body.access_token, undefined);
      assert.match(res.headers.get('set-cookie') ?? '', /HttpOnly/i);
    });

    test('a magic link of a user with TOTP answers the challenge, which the code completes', async () => {
      const { c, email, secret } = await userWithTotp(url());
      // The address is proven first: a magic link that proves an address for the first time
      // removes what was set up before (trust-scenarios.ts), TOTP included.
      const verify = tokenOf(await mailbox().waitFor(email, 1, withLink('verify_email')), 'verify_email');
      assert.equal((await c.post('/auth/email/verify', { token: verify.token })).status, 200);
      assert.equal((await c.post('/auth/magic-link', { email })).status, 202);
      const { token } = tokenOf(await mailbox().waitFor(email, 1, withLink('magic_link')), 'magic_link');
      const challenge = await c.post('/auth/magic-link/verify', { token });
      assert.equal(challenge.status, 200);
      assert.equal(challenge.body.mfa_required, true);
      assert.equal(challenge.body.access_token, undefined);
      const done = await c.post('/auth/login/mfa', { mfa_token: challenge.body.mfa_token, code: totp(secret, 1) });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assert.deepEqual(claimsOf(done.body.access_token as string).amr, ['magic_link', 'otp']);
    });

    test('redirect_to must match the allow-list, and then the link leads there', async () => {
      const c = client(url());
      const email = uniqueEmail('redirect');
      for (const bad of [
        'http://app.test.evil.example/cb',
        'http://app.test@evil.example/cb',
        'https://shop.example/accountant',
        'javascript:alert(1)',
      ]) {
        isError(await c.post('/auth/magic-link', { email, redirect_to: bad }), 400, 'invalid_redirect');
      }
      isError(
        await c.post('/auth/register', { email, password: PASSWORD, redirect_to: 'http://evil.example/' }),
        400,
        'invalid_redirect',
      );
      assert.equal(mailbox().to(email).length, 0);
      const ok = await c.post('/auth/magic-link', { email, redirect_to: 'https://shop.example/account/welcome?x=1' });
      assert.equal(ok.status, 202);
      const { link } = tokenOf(await mailbox().waitFor(email, 1, withLink('magic_link')), 'magic_link');
      assert.equal(`${link.origin}${link.pathname}`, 'https://shop.example/account/welcome');
      assert.equal(link.searchParams.get('x'), '1');
    });

    test('mails to one address are limited per hour: 429 with Retry-After, for unknown addresses too', async () => {
      const c = client(url());
      const email = uniqueEmail('flood');
      for (let i = 0; i < 3; i++) assert.equal((await c.post('/auth/password/forgot', { email })).status, 202);
      const limited = await client(url()).post('/auth/magic-link', { email });
      isError(limited, 429, 'rate_limited');
      assert.ok(Number(limited.headers.get('retry-after')) > 60);
    });
  });
}
