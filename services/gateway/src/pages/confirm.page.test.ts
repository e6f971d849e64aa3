// The confirm page in a real browser (headless Chromium through playwright-core): the page from
// confirmRoutes, beside stand-in API routes that answer as the real ones do (the contract's bodies,
// the gateway's own error writer and cookie setter), on 127.0.0.1.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  EmailVerifyBody,
  InvitationAcceptBody,
  LoginMfaBody,
  MagicLinkVerifyBody,
  type MfaChallenge,
  OAuthExchangeBody,
} from '@gatehouse/contracts';
import { AppError, loadConfig } from '@gatehouse/kit';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { type Browser, chromium, type Page } from 'playwright-core';
import { userRecord } from '../app.test-support.ts';
import { inMode } from '../auth/cookies.ts';
import { sendError } from '../http/errors.ts';
import { tokenResponse } from '../sign-in/complete-sign-in.ts';
import { confirmRoutes } from './confirm.routes.ts';

const CHROMIUM = '/usr/bin/chromium';
/** Every wait in a page is bounded by this. */
const WAIT_MS = 5000;

const GOOD_CODE = 'exchange-code-good';
const MFA_CODE = 'exchange-code-mfa';
const MFA_TOKEN = 'mfa-token-1';
const TOTP = '123456';
const MAGIC_MFA_TOKEN = 'magic-link-token-mfa';
const INVITATION_TOKEN = 'invitation-token-good';

type Call = { path: string; contentType: string | undefined; body: unknown };
let calls: Call[] = [];
const callsTo = (path: string) => calls.filter((c) => c.path === path);

const config = loadConfig({});
const user = userRecord('ada@example.com');
const challenge: MfaChallenge = { mfa_required: true, mfa_token: MFA_TOKEN, methods: ['totp', 'recovery_code'] };

/** The TokenResponse of a cookie-mode sign-in: the tokens as cookies, left out of the body. */
function signedIn(reply: FastifyReply) {
  return inMode(
    reply,
    config,
    tokenResponse({ access_token: 'access-jwt', expires_in: 900, refresh_token: 'refresh-token' }, user),
    'cookie',
  );
}

async function pageServer(): Promise<FastifyInstance> {
  // As buildGateway sets up validation and errors, so a refused body reads as it would.
  const app = Fastify({
    ajv: { customOptions: { coerceTypes: false, allErrors: true, removeAdditional: false, verbose: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.addHook('preHandler', async (request) => {
    if (request.method === 'POST') {
      calls.push({ path: request.url, contentType: request.headers['content-type'], body: request.body });
    }
  });
  await app.register(confirmRoutes);
  app.post('/auth/oauth/exchange', { schema: { body: OAuthExchangeBody } }, async (request, reply) => {
    if (request.body.code === GOOD_CODE) return signedIn(reply);
    if (request.body.code === MFA_CODE) return challenge;
    throw new AppError('invalid_one_time_token', 'this link is invalid or has expired');
  });
  app.post('/auth/login/mfa', { schema: { body: LoginMfaBody } }, async (request, reply) => {
    if (request.body.mfa_token !== MFA_TOKEN) throw new AppError('invalid_token', 'the sign-in challenge is invalid');
    if (request.body.code !== TOTP) throw new AppError('invalid_code', 'the code is wrong');
    return signedIn(reply);
  });
  app.post('/auth/magic-link/verify', { schema: { body: MagicLinkVerifyBody } }, async (request) => {
    if (request.body.token === MAGIC_MFA_TOKEN) return challenge;
    throw new AppError('invalid_one_time_token', 'this link is invalid or has expired');
  });
  app.post('/auth/invitations/accept', { schema: { body: InvitationAcceptBody } }, async (request, reply) => {
    if (request.body.token !== INVITATION_TOKEN) {
      throw new AppError('invalid_one_time_token', 'this link is invalid or has expired');
    }
    return request.body.auth_mode === 'cookie' ? signedIn(reply) : {};
  });
  app.post('/auth/email/verify', { schema: { body: EmailVerifyBody } }, async () => {
    throw new AppError('invalid_one_time_token', 'this link is invalid or has expired');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

// The test command installs Chromium (infra/scripts/ensure-services.sh); without it this fails, never skips.
describe('the confirm page in Chromium', () => {
  let server: FastifyInstance;
  let browser: Browser;
  let base: string;

  before(async () => {
    server = await pageServer();
    const address = server.server.address();
    assert.ok(address && typeof address === 'object');
    base = `http://127.0.0.1:${address.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(() => {
    calls = [];
  });

  /**
   * Opens `path` in a fresh context (no cookies), and runs `use` on it. Records every request
   * the page makes and every dialog it opens; `use` gets both.
   */
  async function withPage(
    path: string,
    use: (page: Page, seen: { requests: string[]; dialogs: string[] }) => Promise<void>,
  ): Promise<void> {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      page.setDefaultNavigationTimeout(WAIT_MS);
      const seen = { requests: [] as string[], dialogs: [] as string[] };
      page.on('request', (request) => seen.requests.push(request.url()));
      page.on('dialog', (dialog) => {
        seen.dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      await page.goto(base + path, { waitUntil: 'load' });
      await use(page, seen);
      // Nothing but this origin, ever.
      for (const url of seen.requests) assert.ok(url.startsWith(`${base}/`), url);
    } finally {
      await context.close();
    }
  }

  const statusSays = (page: Page, text: string) =>
    page.locator('#status', { hasText: text }).waitFor({ state: 'visible', timeout: WAIT_MS });
  const cookieNames = async (page: Page) => (await page.context().cookies()).map((c) => c.name).sort();

  test('?code= is traded at once, in cookie mode, and the page says signed in', { timeout: 20_000 }, async () => {
    await withPage(`/auth/confirm?code=${GOOD_CODE}`, async (page) => {
      await statusSays(page, 'You are signed in.');
      assert.deepEqual(
        callsTo('/auth/oauth/exchange').map((c) => c.body),
        [{ code: GOOD_CODE, auth_mode: 'cookie' }],
      );
      assert.match(String(callsTo('/auth/oauth/exchange')[0]?.contentType), /^application\/json/);
      assert.equal(await page.locator('#form').isHidden(), true);
      assert.deepEqual(await cookieNames(page), ['gh_access', 'gh_csrf', 'gh_refresh']);
    });
  });

  test('the code is gone from the address bar after load', { timeout: 20_000 }, async () => {
    await withPage(`/auth/confirm?code=${GOOD_CODE}`, async (page) => {
      await statusSays(page, 'You are signed in.');
      const href = await page.evaluate('location.href');
      assert.equal(href, `${base}/auth/confirm`);
      assert.ok(!page.url().includes(GOOD_CODE), page.url());
      // A reload (or a visit to this history entry) has no code to send again.
      await page.reload({ waitUntil: 'load' });
      assert.equal(callsTo('/auth/oauth/exchange').length, 1);
    });
  });

  test('the MFA challenge asks for the code and completes with POST /auth/login/mfa', { timeout: 20_000 }, async () => {
    await withPage(`/auth/confirm?code=${MFA_CODE}`, async (page) => {
      const field = page.locator('#mfa-code');
      await field.waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.equal(await field.getAttribute('autocomplete'), 'one-time-code');
      assert.equal(await field.getAttribute('inputmode'), 'numeric');
      assert.deepEqual(await cookieNames(page), []);
      // Not six digits: refused here, nothing sent.
      await field.fill('12');
      await page.click('#go');
      await statusSays(page, 'Enter the 6-digit code');
      assert.equal(callsTo('/auth/login/mfa').length, 0);
      // A wrong code: said so, and the field is there for another try.
      await field.fill('000000');
      await page.click('#go');
      await statusSays(page, 'That code is not right');
      assert.equal(await field.isVisible(), true);
      assert.equal(await field.inputValue(), '');
      // The right one, typed as an authenticator app shows it.
      await field.fill('123 456');
      await page.click('#go');
      await statusSays(page, 'You are signed in.');
      assert.deepEqual(
        callsTo('/auth/login/mfa').map((c) => c.body),
        [
          { mfa_token: MFA_TOKEN, code: '000000', auth_mode: 'cookie' },
          { mfa_token: MFA_TOKEN, code: TOTP, auth_mode: 'cookie' },
        ],
      );
      assert.equal(callsTo('/auth/oauth/exchange').length, 1);
      assert.equal(await page.locator('#form').isHidden(), true);
      assert.deepEqual(await cookieNames(page), ['gh_access', 'gh_csrf', 'gh_refresh']);
    });
  });

  test('an expired or used code says to start again', { timeout: 20_000 }, async () => {
    await withPage('/auth/confirm?code=expired-code', async (page) => {
      await statusSays(page, 'This sign-in has expired or was already used. Start the sign-in again.');
      assert.deepEqual(
        callsTo('/auth/oauth/exchange').map((c) => c.body),
        [{ code: 'expired-code', auth_mode: 'cookie' }],
      );
      assert.equal(await page.locator('#form').isHidden(), true);
      assert.equal(await page.locator('#status').getAttribute('class'), 'error');
    });
  });

  test('?error=account_exists says to sign in to that account first and link from there', {
    timeout: 20_000,
  }, async () => {
    await withPage('/auth/confirm?error=account_exists', async (page) => {
      const text = await page.locator('#status').textContent();
      assert.match(String(text), /An account with this email address already exists/);
      assert.match(String(text), /Sign in to that account first/);
      assert.match(String(text), /link this provider/);
      assert.equal(calls.length, 0);
    });
    await withPage('/auth/confirm?error=access_denied', async (page) => {
      assert.match(String(await page.locator('#status').textContent()), /You cancelled/);
    });
  });

  test('an unknown or hostile ?error= shows the generic message and injects nothing', { timeout: 20_000 }, async () => {
    const junk = [
      '<script>alert(1)</script>',
      '"><img src=x onerror=alert(2)>',
      '__proto__',
      'constructor',
      'toString',
    ];
    for (const error of junk) {
      await withPage(`/auth/confirm?error=${encodeURIComponent(error)}`, async (page, seen) => {
        assert.equal(
          await page.locator('#status').textContent(),
          'The sign-in did not complete. Start the sign-in again.',
          error,
        );
        assert.equal(await page.locator('script').count(), 1);
        assert.equal(await page.locator('img').count(), 0);
        assert.deepEqual(seen.dialogs, []);
        assert.equal(calls.length, 0);
      });
    }
  });

  test('?linked= names the provider as text only', { timeout: 20_000 }, async () => {
    await withPage('/auth/confirm?linked=github', async (page) => {
      assert.equal(await page.locator('#status').textContent(), 'Your GitHub account is linked.');
    });
    await withPage('/auth/confirm?linked=okta_corp', async (page) => {
      assert.equal(await page.locator('#status').textContent(), 'Your okta_corp account is linked.');
    });
    await withPage(`/auth/confirm?linked=${encodeURIComponent('<img src=x onerror=alert(3)>')}`, async (page, seen) => {
      assert.equal(await page.locator('#status').textContent(), 'The account is linked.');
      assert.equal(await page.locator('img').count(), 0);
      assert.deepEqual(seen.dialogs, []);
    });
  });

  test('a bad emailed token reads 400 invalid_token, on a click only', { timeout: 20_000 }, async () => {
    await withPage('/auth/confirm?token=stale-token&type=verify_email', async (page) => {
      await page.locator('#go').waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.equal(calls.length, 0);
      await page.click('#go');
      await statusSays(page, 'This link is invalid, used or expired. Ask for a new one.');
      assert.deepEqual(
        callsTo('/auth/email/verify').map((c) => c.body),
        [{ token: 'stale-token' }],
      );
    });
  });

  test('an invitation asks for a name and a password, accepts on a click in cookie mode, and says signed in', {
    timeout: 20_000,
  }, async () => {
    await withPage(`/auth/confirm?token=${INVITATION_TOKEN}&type=invitation`, async (page) => {
      await page.locator('#go').waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.equal(await page.locator('#title').textContent(), 'Accept the invitation');
      assert.equal(await page.locator('#go').textContent(), 'Create account');
      assert.equal(await page.locator('#name').isVisible(), true);
      assert.equal(await page.locator('#name').getAttribute('autocomplete'), 'name');
      assert.equal(await page.locator('#password').isVisible(), true);
      assert.equal(await page.locator('#password').getAttribute('autocomplete'), 'new-password');
      assert.match(String(await page.locator('#password-field').textContent()), /Choose a password/);
      assert.equal(await page.locator('#mfa-code').isVisible(), false);
      assert.equal(calls.length, 0, 'nothing is sent on load');
      await page.fill('#name', '  Ada Lovelace ');
      await page.fill('#password', 'correct horse battery');
      await page.click('#go');
      await statusSays(page, 'you are signed in');
      assert.deepEqual(
        calls.map((c) => [c.path, c.body]),
        [
          [
            '/auth/invitations/accept',
            { token: INVITATION_TOKEN, password: 'correct horse battery', name: 'Ada Lovelace', auth_mode: 'cookie' },
          ],
        ],
      );
      assert.equal(await page.locator('#form').isHidden(), true);
      assert.equal(await page.locator('#status').getAttribute('class'), 'ok');
      assert.deepEqual(await cookieNames(page), ['gh_access', 'gh_csrf', 'gh_refresh']);
    });
  });

  test("a magic link's MFA challenge asks for the code instead of saying signed in", { timeout: 20_000 }, async () => {
    await withPage(`/auth/confirm?token=${MAGIC_MFA_TOKEN}&type=magic_link`, async (page) => {
      await page.locator('#go').waitFor({ state: 'visible', timeout: WAIT_MS });
      await page.click('#go');
      const field = page.locator('#mfa-code');
      await field.waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.equal(await page.locator('#status').textContent(), 'Enter the 6-digit code from your authenticator app.');
      await field.fill(TOTP);
      await page.click('#go');
      await statusSays(page, 'You are signed in.');
      assert.deepEqual(
        calls.map((c) => [c.path, c.body]),
        [
          ['/auth/magic-link/verify', { token: MAGIC_MFA_TOKEN, auth_mode: 'cookie' }],
          ['/auth/login/mfa', { mfa_token: MFA_TOKEN, code: TOTP, auth_mode: 'cookie' }],
        ],
      );
    });
  });
});
