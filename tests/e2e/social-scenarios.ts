import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  type FakeOidcPeer,
  type GitHubPeer,
  type OAuthPeer,
  type OidcPeer,
  startFakeOidcPeer,
  startGitHubPeer,
  startOidcPeer,
  startXPeer,
  type XPeer,
} from '@gatehouse/kit/testing';
import { claimsOf, client, type Res, uniqueEmail } from './client.ts';
import { linkIn, type Mailbox, withLink } from './mailbox.ts';
import { totp } from './totp.ts';

// Social sign-in over HTTP against providers the tests start on loopback: oidc-provider (a real
// OpenID Connect provider) as a generic provider `acme` and as `google`, a hand-made OIDC peer
// that spoils its ID tokens on demand as `shady`, and local servers speaking GitHub's and X's
// endpoints. Each browser below keeps its own cookies (the flow's binding cookie among them).

const PASSWORD = 'correct horse battery';
/** Where the app wants the browser back: allow-listed by EMAIL_SERVER_ENV's REDIRECT_ALLOWLIST. */
const APP = 'http://app.test/signed-in';

export interface SocialPeers {
  acme: OidcPeer;
  google: OidcPeer;
  shady: FakeOidcPeer;
  github: GitHubPeer;
  x: XPeer;
  /** The OAUTH_* variables that point Gatehouse at the peers. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** The peers, each with one client whose redirect URI is `publicUrl`'s callback for that provider. */
export async function startSocialPeers(publicUrl: string): Promise<SocialPeers> {
  const app = (id: string) => ({
    client_id: `${id}-client`,
    client_secret: `${id}-secret-${randomUUID()}`,
    redirect_uris: [`${publicUrl}/auth/oauth/${id}/callback`],
  });
  const [acmeApp, googleApp, shadyApp, githubApp, xApp] = ['acme', 'google', 'shady', 'github', 'twitter'].map(app);
  const acme = await startOidcPeer({ clients: [acmeApp!] });
  const google = await startOidcPeer({ clients: [googleApp!] });
  const shady = await startFakeOidcPeer({ clients: [shadyApp!] });
  const github = await startGitHubPeer({ clients: [githubApp!] });
  const x = await startXPeer({ clients: [xApp!] });
  const client = (name: string, c: { client_id: string; client_secret: string }) => ({
    [`OAUTH_${name}_CLIENT_ID`]: c.client_id,
    [`OAUTH_${name}_CLIENT_SECRET`]: c.client_secret,
  });
  const env = {
    ...client('ACME', acmeApp!),
    OAUTH_ACME_ISSUER: acme.issuer,
    ...client('GOOGLE', googleApp!),
    OAUTH_GOOGLE_ISSUER: google.issuer,
    ...client('SHADY', shadyApp!),
    OAUTH_SHADY_ISSUER: shady.issuer,
    ...client('GITHUB', githubApp!),
    OAUTH_GITHUB_AUTHORIZATION_URL: github.authorizationUrl,
    OAUTH_GITHUB_TOKEN_URL: github.tokenUrl,
    OAUTH_GITHUB_USERINFO_URL: github.userinfoUrl,
    OAUTH_GITHUB_EMAILS_URL: github.emailsUrl,
    ...client('TWITTER', xApp!),
    OAUTH_TWITTER_AUTHORIZATION_URL: x.authorizationUrl,
    OAUTH_TWITTER_TOKEN_URL: x.tokenUrl,
    OAUTH_TWITTER_USERINFO_URL: x.userinfoUrl,
    // Short, so the slow-provider test is quick; well inside the bus timeout of either mode.
    OAUTH_TIMEOUT_MS: '1000',
  };
  return {
    acme,
    google,
    shady,
    github,
    x,
    env,
    close: async () => {
      await Promise.all([acme, google, shady, github, x].map((p) => p.close()));
    },
  };
}

/** A browser: its own address and cookie jar, redirects not followed (each hop is asserted). */
class Browser {
  readonly ip = `10.${rnd()}.${rnd()}.${rnd()}`;
  readonly cookies = new Map<string, string>();

  async get(url: string | URL): Promise<Response> {
    const headers: Record<string, string> = { 'x-forwarded-for': this.ip };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { redirect: 'manual', headers, signal: AbortSignal.timeout(15_000) });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const [name, value] = [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
      if (/max-age=0\b/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}

const rnd = () => Math.floor(Math.random() * 250) + 1;

function isError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
  assert.equal(typeof res.body.message, 'string');
}

/** The 302's target. */
function locationOf(res: Response): URL {
  assert.equal(res.status, 302, `expected a redirect, got ${res.status}`);
  const location = res.headers.get('location');
  assert.ok(location, 'a redirect has a Location');
  return new URL(location);
}

/** The redirect back to the app: `APP` (or the named target) with its query. */
function backAtApp(url: URL, target = APP): URLSearchParams {
  assert.equal(`${url.origin}${url.pathname}`, target, `back at the app: ${url}`);
  return url.searchParams;
}

/**
 * Social sign-in, per mode. `base()` begins flows; `finishAt()` receives the provider's
 * redirect back (another gateway replica in the stack: any replica finishes a flow another began).
 */
export function socialScenarios(
  name: string,
  base: () => string,
  finishAt: () => string,
  peers: () => SocialPeers,
  mailbox: () => Mailbox,
  /** Bans a user (through the admin API). */
  ban: (userId: string) => Promise<void>,
): void {
  /** Begins a flow at the gateway: the provider's authorization URL. */
  async function begin(browser: Browser, provider: string, query: Record<string, string> = { redirect_to: APP }) {
    const res = await browser.get(`${base()}/auth/oauth/${provider}?${new URLSearchParams(query)}`);
    const to = locationOf(res);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return to;
  }

  /** The provider's redirect back, delivered to the gateway `at` by `browser`: where the gateway sends it. */
  async function deliver(browser: Browser, back: URL, at = finishAt()): Promise<URL> {
    return locationOf(await browser.get(new URL(back.pathname + back.search, at)));
  }

  /** A whole flow in one browser: begin, act at the provider, come back; the redirect to the app. */
  async function flow(
    provider: string,
    peer: OAuthPeer<unknown>,
    how: { as: string } | { deny: true },
    options: { browser?: Browser; query?: Record<string, string> } = {},
  ): Promise<URL> {
    const browser = options.browser ?? new Browser();
    const authorize = await begin(browser, provider, options.query);
    return deliver(browser, await peer.authorize(authorize, how));
  }

  /** A flow that ends with a code, traded for tokens. */
  async function signIn(provider: string, peer: OAuthPeer<unknown>, as: string) {
    const code = backAtApp(await flow(provider, peer, { as })).get('code');
    assert.ok(code, 'the redirect carries a one-time code');
    const c = client(base());
    const res = await c.post('/auth/oauth/exchange', { code });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const access = res.body.access_token as string;
    return { c, code, access, user: res.body.user as Record<string, unknown>, body: res.body };
  }

  const subject = () => randomUUID();

  describe(`${name}: social sign-in`, () => {
    test('GET /auth/providers lists exactly the configured providers', async () => {
      const res = await client(base()).get('/auth/providers');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.providers, [
        { id: 'google', name: 'Google', type: 'oidc' },
        { id: 'github', name: 'GitHub', type: 'oauth2' },
        { id: 'twitter', name: 'X', type: 'oauth2' },
        { id: 'acme', name: 'Acme', type: 'oidc' },
        { id: 'shady', name: 'Shady', type: 'oidc' },
      ]);
    });

    test('generic OpenID Connect: the redirect carries state, PKCE S256 and a nonce; the user is created once and found by subject', async () => {
      const { acme } = peers();
      const sub = subject();
      const email = uniqueEmail('acme');
      acme.setAccount(sub, { email, email_verified: true, name: 'Ada Acme', picture: 'https://img.test/ada.png' });
      const authorize = await begin(new Browser(), 'acme');
      assert.equal(authorize.origin, acme.issuer);
      for (const param of ['state', 'nonce', 'code_challenge'])
        assert.ok(authorize.searchParams.get(param), `${param} is sent`);
      assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
      assert.ok((authorize.searchParams.get('state') ?? '').length >= 32, 'the state is long and random');

      const first = await signIn('acme', acme, sub);
      assert.equal(first.user.email, email);
      assert.equal(first.user.email_verified, true);
      assert.equal(first.user.name, 'Ada Acme');
      assert.equal(first.user.avatar_url, 'https://img.test/ada.png');
      assert.deepEqual(claimsOf(first.access).amr, ['oauth']);
      const me = await first.c.get('/auth/me', first.access);
      assert.equal(me.status, 200);
      assert.equal(me.body.id, first.user.id);

      // The address changes at the provider: the same provider account still signs in the same user.
      acme.setAccount(sub, { email: uniqueEmail('acme-moved'), email_verified: true, name: 'Ada Acme' });
      const again = await signIn('acme', acme, sub);
      assert.equal(again.user.id, first.user.id);
      const identities = await again.c.get('/auth/identities', again.access);
      assert.equal(identities.status, 200);
      const list = identities.body.identities as { provider: string }[];
      assert.deepEqual(
        list.map((i) => i.provider),
        ['acme'],
      );
    });

    test('google, pointed at a local OpenID Connect provider, signs in the same user each time', async () => {
      const { google } = peers();
      const sub = subject();
      const email = uniqueEmail('google');
      google.setAccount(sub, { email, email_verified: true, name: 'Grace G' });
      const first = await signIn('google', google, sub);
      assert.equal(first.user.email, email);
      assert.equal(first.user.email_verified, true);
      const second = await signIn('google', google, sub);
      assert.equal(second.user.id, first.user.id);
    });

    test('GitHub: the verified primary address from the emails API even when the profile hides it; PKCE sent too', async () => {
      const { github } = peers();
      const id = String(Math.floor(Math.random() * 1e9));
      const primary = uniqueEmail('octo');
      github.setAccount(id, {
        login: `octo${id}`,
        name: null,
        avatar_url: 'https://avatars.test/octo.png',
        public_email: null,
        emails: [
          { email: uniqueEmail('octo-other'), primary: false, verified: true },
          { email: primary, primary: true, verified: true },
        ],
      });
      const first = await signIn('github', github, id);
      assert.equal(first.user.email, primary);
      assert.equal(first.user.email_verified, true);
      assert.equal(first.user.name, `octo${id}`, 'the login stands in for a missing name');
      assert.equal(first.user.avatar_url, 'https://avatars.test/octo.png');
      const authorize = github.requests.filter((r) => r.method === 'GET' && r.path === '/login/oauth/authorize').at(-1);
      assert.equal(authorize?.query.code_challenge_method, 'S256');
      const token = github.requests.filter((r) => r.path === '/login/oauth/access_token').at(-1);
      assert.ok(token?.body.code_verifier, 'the code is traded with the PKCE verifier');
      const second = await signIn('github', github, id);
      assert.equal(second.user.id, first.user.id);
    });

    test('X: PKCE, no email address; the same user next time', async () => {
      const { x } = peers();
      const id = String(Math.floor(Math.random() * 1e12));
      x.setAccount(id, { name: 'Xavier', username: `xavier${id}`, profile_image_url: 'https://pbs.test/x.png' });
      const first = await signIn('twitter', x, id);
      assert.equal(first.user.email, null);
      assert.equal(first.user.email_verified, false);
      assert.equal(first.user.name, 'Xavier');
      const second = await signIn('twitter', x, id);
      assert.equal(second.user.id, first.user.id);
    });

    test('the exchange code is single use; an unknown one is refused', async () => {
      const { acme } = peers();
      const sub = subject();
      acme.setAccount(sub, { email: uniqueEmail('once'), email_verified: true });
      const { code, c } = await signIn('acme', acme, sub);
      isError(await c.post('/auth/oauth/exchange', { code }), 400, 'invalid_token');
      isError(await c.post('/auth/oauth/exchange', { code: 'A'.repeat(43) }), 400, 'invalid_token');
    });

    test('auth_mode=cookie: the callback sets the session cookies and redirects without a code', async () => {
      const { acme } = peers();
      const sub = subject();
      acme.setAccount(sub, { email: uniqueEmail('cookie'), email_verified: true });
      const browser = new Browser();
      const back = await flow('acme', acme, { as: sub }, { browser, query: { redirect_to: APP, auth_mode: 'cookie' } });
      const params = backAtApp(back);
      assert.equal(params.get('code'), null);
      assert.equal(params.get('error'), null);
      assert.ok(browser.cookies.get('gh_access'), 'the access cookie is set');
      const res = await fetch(`${base()}/auth/session`, {
        headers: { cookie: `gh_access=${browser.cookies.get('gh_access')}`, 'x-forwarded-for': browser.ip },
      });
      assert.equal(res.status, 200);
    });

    test('a user with TOTP gets the challenge from the exchange, and tokens after the code', async () => {
      const { acme } = peers();
      const sub = subject();
      acme.setAccount(sub, { email: uniqueEmail('mfa'), email_verified: true });
      const first = await signIn('acme', acme, sub);
      const setup = await first.c.post('/auth/mfa/totp/setup', undefined, first.access);
      assert.equal(setup.status, 200, JSON.stringify(setup.body));
      const secret = setup.body.secret as string;
      const enabled = await first.c.post('/auth/mfa/totp/enable', { code: totp(secret) }, first.access);
      assert.equal(enabled.status, 200, JSON.stringify(enabled.body));

      const code = backAtApp(await flow('acme', acme, { as: sub })).get('code');
      const c = client(base());
      const challenge = await c.post('/auth/oauth/exchange', { code });
      assert.equal(challenge.status, 200, JSON.stringify(challenge.body));
      assert.equal(challenge.body.mfa_required, true);
      assert.equal(challenge.body.access_token, undefined, 'no tokens before the second factor');
      const done = await c.post('/auth/login/mfa', { mfa_token: challenge.body.mfa_token, code: totp(secret, 1) });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assert.equal((done.body.user as { id: string }).id, first.user.id);
      assert.deepEqual(claimsOf(done.body.access_token as string).amr, ['oauth', 'otp']);
    });
  });

  describe(`${name}: social sign-in failures end in a redirect with ?error=, never a 500 or a code`, () => {
    test('consent denied at the provider: ?error=access_denied', async () => {
      const { acme } = peers();
      const params = backAtApp(await flow('acme', acme, { deny: true }));
      assert.equal(params.get('error'), 'access_denied');
      assert.equal(params.get('code'), null);
    });

    for (const tamper of ['signature', 'nonce', 'audience', 'issuer', 'expired'] as const) {
      test(`an ID token with a bad ${tamper} is refused: ?error=invalid_provider_response`, async () => {
        const { shady } = peers();
        const sub = subject();
        shady.setAccount(sub, { email: uniqueEmail('shady'), email_verified: true });
        shady.set({ tamper });
        try {
          const params = backAtApp(await flow('shady', shady, { as: sub }));
          assert.equal(params.get('error'), 'invalid_provider_response');
          assert.equal(params.get('code'), null);
        } finally {
          shady.set({ tamper: 'none' });
        }
      });
    }

    test('the untampered peer signs in, so the refusals above are the checks, not a broken peer', async () => {
      const { shady } = peers();
      const sub = subject();
      shady.setAccount(sub, { email: uniqueEmail('shady-ok'), email_verified: true });
      const { user } = await signIn('shady', shady, sub);
      assert.ok(user.id);
    });

    test('the provider refuses the code: ?error=token_exchange_failed; the provider fails: ?error=provider_unavailable', async () => {
      const { github } = peers();
      const id = String(Math.floor(Math.random() * 1e9));
      github.setAccount(id, { login: `f${id}`, name: 'F', avatar_url: '', public_email: null, emails: [] });
      github.set({ tokenStatus: 400 });
      try {
        assert.equal(backAtApp(await flow('github', github, { as: id })).get('error'), 'token_exchange_failed');
        github.set({ tokenStatus: 503 });
        assert.equal(backAtApp(await flow('github', github, { as: id })).get('error'), 'provider_unavailable');
      } finally {
        github.set({ tokenStatus: undefined });
      }
    });

    test('a provider slower than OAUTH_TIMEOUT_MS: ?error=provider_unavailable, within the bound', async () => {
      const { x } = peers();
      const id = String(Math.floor(Math.random() * 1e12));
      x.setAccount(id, { name: 'Slow', username: `slow${id}` });
      const browser = new Browser();
      const authorize = await begin(browser, 'twitter');
      const back = await x.authorize(authorize, { as: id });
      x.set({ tokenDelayMs: 5_000 });
      try {
        const started = Date.now();
        const params = backAtApp(await deliver(browser, back));
        assert.equal(params.get('error'), 'provider_unavailable');
        assert.ok(Date.now() - started < 4_000, `answered in ${Date.now() - started} ms`);
      } finally {
        x.set({ tokenDelayMs: 0 });
      }
    });

    test('a callback in another browser finishes nothing (400 invalid_state), and the state is used up', async () => {
      const { acme } = peers();
      const sub = subject();
      acme.setAccount(sub, { email: uniqueEmail('csrf'), email_verified: true });
      const victim = new Browser();
      const attacker = new Browser();
      const authorize = await begin(attacker, 'acme');
      const back = await acme.authorize(authorize, { as: sub });
      // The attacker plants their callback URL in the victim's browser (login CSRF).
      const planted = await victim.get(new URL(back.pathname + back.search, finishAt()));
      assert.equal(planted.status, 400);
      assert.equal(((await planted.json()) as { error: string }).error, 'invalid_state');
      assert.equal(victim.cookies.get('gh_access'), undefined);
      // The state went with the refusal: not even the browser that began the flow can use it now.
      const late = await attacker.get(new URL(back.pathname + back.search, finishAt()));
      assert.equal(late.status, 400);
    });

    test('a callback replayed, or with no state at all: 400 invalid_state', async () => {
      const { acme } = peers();
      const sub = subject();
      acme.setAccount(sub, { email: uniqueEmail('replay'), email_verified: true });
      const browser = new Browser();
      const back = await acme.authorize(await begin(browser, 'acme'), { as: sub });
      assert.ok(backAtApp(await deliver(browser, back)).get('code'));
      const replay = await browser.get(new URL(back.pathname + back.search, finishAt()));
      assert.equal(replay.status, 400);
      assert.equal(((await replay.json()) as { error: string }).error, 'invalid_state');
      const bare = await browser.get(`${finishAt()}/auth/oauth/acme/callback?code=x`);
      assert.equal(bare.status, 400);
    });

    test('an unknown provider is 404 unknown_provider; a redirect_to off the allow-list 400 invalid_redirect', async () => {
      const c = client(base());
      isError(await c.get('/auth/oauth/myspace'), 404, 'unknown_provider');
      isError(
        await c.get(`/auth/oauth/acme?redirect_to=${encodeURIComponent('https://evil.example/')}`),
        400,
        'invalid_redirect',
      );
    });

    test('the start route is rate limited per address', async () => {
      const browser = new Browser();
      let limited: Response | undefined;
      for (let i = 0; i < 40 && !limited; i++) {
        const res = await browser.get(`${base()}/auth/oauth/acme`);
        if (res.status === 429) limited = res;
        else assert.equal(res.status, 302);
      }
      assert.ok(limited, 'a flood of starts is refused');
      assert.ok(limited.headers.get('retry-after'));
    });
  });

  describe(`${name}: a banned user`, () => {
    test('cannot trade a code issued before the ban (403 user_banned), nor sign in again (?error=user_banned)', async () => {
      const { acme } = peers();
      const sub = subject();
      acme.setAccount(sub, { email: uniqueEmail('banned'), email_verified: true });
      const { user } = await signIn('acme', acme, sub);
      const pending = backAtApp(await flow('acme', acme, { as: sub })).get('code');
      await ban(user.id as string);
      isError(await client(base()).post('/auth/oauth/exchange', { code: pending }), 403, 'user_banned');
      assert.equal(backAtApp(await flow('acme', acme, { as: sub })).get('error'), 'user_banned');
    });
  });

  describe(`${name}: social accounts and linking`, () => {
    async function passwordUser(tag: string) {
      const c = client(base());
      const email = uniqueEmail(tag);
      const res = await c.post('/auth/register', { email, password: PASSWORD });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return { c, email, id: (res.body.user as { id: string }).id, access: res.body.access_token as string };
    }

    test('an unverified provider address never opens an existing account: ?error=account_exists', async () => {
      const { acme } = peers();
      const owner = await passwordUser('owner');
      const sub = subject();
      acme.setAccount(sub, { email: owner.email.toUpperCase(), email_verified: false });
      const params = backAtApp(await flow('acme', acme, { as: sub }));
      assert.equal(params.get('error'), 'account_exists');
      assert.equal(params.get('code'), null);
      // The owner is untouched: the password still works, the session still stands.
      assert.equal((await owner.c.get('/auth/me', owner.access)).status, 200);
      assert.equal((await owner.c.post('/auth/login', { email: owner.email, password: PASSWORD })).status, 200);
    });

    test('a verified provider address signs in the account with it; an unproven account is claimed (its password and sessions go)', async () => {
      const { google } = peers();
      const owner = await passwordUser('claimed');
      const sub = subject();
      google.setAccount(sub, { email: owner.email, email_verified: true });
      const { user, c, access } = await signIn('google', google, sub);
      assert.equal(user.id, owner.id);
      assert.equal(user.email_verified, true);
      // Whoever registered the address first without proving it loses what they set up.
      assert.equal((await owner.c.get('/auth/session', owner.access)).status, 401);
      assert.equal((await owner.c.post('/auth/login', { email: owner.email, password: PASSWORD })).status, 401);
      assert.equal((await c.get('/auth/me', access)).status, 200);
    });

    test('link a provider to a signed-in account; the provider then signs that account in', async () => {
      const { github } = peers();
      const owner = await passwordUser('linker');
      const id = String(Math.floor(Math.random() * 1e9));
      github.setAccount(id, {
        login: `l${id}`,
        name: 'L',
        avatar_url: '',
        public_email: null,
        emails: [{ email: uniqueEmail('gh-elsewhere'), primary: true, verified: true }],
      });
      const link = await owner.c.post('/auth/identities/github/link', { redirect_to: APP }, owner.access);
      assert.equal(link.status, 200, JSON.stringify(link.body));
      const url = new URL(link.body.url as string);
      const browser = new Browser();
      const start = await browser.get(new URL(url.pathname + url.search, base()));
      const back = await deliver(browser, await github.authorize(locationOf(start), { as: id }));
      assert.equal(backAtApp(back).get('linked'), 'github');
      const list = await owner.c.get('/auth/identities', owner.access);
      assert.deepEqual(
        (list.body.identities as { provider: string }[]).map((i) => i.provider),
        ['github'],
      );
      const { user } = await signIn('github', github, id);
      assert.equal(user.id, owner.id);
      // A link token is single use.
      const reused = await browser.get(new URL(url.pathname + url.search, base()));
      assert.equal(reused.status, 400);
      // The owner hears of the new way in.
      const notice = await mailbox().waitFor(owner.email, 1, (m) => m.text.includes('GitHub account was just added'));
      assert.match(notice.text, /A GitHub account was just added to your/);

      // A password reset puts out whoever held the account, and the provider account they linked goes too.
      assert.equal((await client(base()).post('/auth/password/forgot', { email: owner.email })).status, 202);
      const mail = await mailbox().waitFor(owner.email, 1, withLink('reset_password'));
      const token = linkIn(mail.text).searchParams.get('token');
      const reset = await client(base()).post('/auth/password/reset', { token, password: 'a brand new passphrase' });
      assert.equal(reset.status, 204, JSON.stringify(reset.body));
      const back2 = await client(base()).post('/auth/login', {
        email: owner.email,
        password: 'a brand new passphrase',
      });
      assert.equal(back2.status, 200, JSON.stringify(back2.body));
      assert.deepEqual((await owner.c.get('/auth/identities', back2.body.access_token as string)).body.identities, []);
      const after = await signIn('github', github, id);
      assert.notEqual(after.user.id, owner.id, 'the unlinked provider account no longer opens the account');
    });

    test('a provider account linked to another user cannot be linked: ?error=identity_already_linked', async () => {
      const { x } = peers();
      const id = String(Math.floor(Math.random() * 1e12));
      x.setAccount(id, { name: 'Taken', username: `taken${id}` });
      const { user: holder } = await signIn('twitter', x, id);
      const other = await passwordUser('other');
      const link = await other.c.post('/auth/identities/twitter/link', { redirect_to: APP }, other.access);
      const url = new URL(link.body.url as string);
      const browser = new Browser();
      const start = await browser.get(new URL(url.pathname + url.search, base()));
      const back = await deliver(browser, await x.authorize(locationOf(start), { as: id }));
      assert.equal(backAtApp(back).get('error'), 'identity_already_linked');
      assert.deepEqual((await other.c.get('/auth/identities', other.access)).body.identities, []);
      // Still the holder's.
      const { user } = await signIn('twitter', x, id);
      assert.equal(user.id, holder.id);
    });

    test("the last way in cannot be removed (409 last_login_method); another user's identity is not found", async () => {
      const { x, acme } = peers();
      const id = String(Math.floor(Math.random() * 1e12));
      x.setAccount(id, { name: 'Only', username: `only${id}` });
      const only = await signIn('twitter', x, id);
      const [identity] = (await only.c.get('/auth/identities', only.access)).body.identities as { id: string }[];
      assert.ok(identity);
      isError(await only.c.del(`/auth/identities/${identity.id}`, only.access), 409, 'last_login_method');

      // A second provider linked: now either can go, but not both.
      const sub = subject();
      acme.setAccount(sub, { email: uniqueEmail('second'), email_verified: true });
      const link = await only.c.post('/auth/identities/acme/link', { redirect_to: APP }, only.access);
      const url = new URL(link.body.url as string);
      const browser = new Browser();
      const start = await browser.get(new URL(url.pathname + url.search, base()));
      const back = await deliver(browser, await acme.authorize(locationOf(start), { as: sub }));
      assert.equal(backAtApp(back).get('linked'), 'acme');

      const stranger = await passwordUser('stranger');
      isError(await stranger.c.del(`/auth/identities/${identity.id}`, stranger.access), 404, 'not_found');

      assert.equal((await only.c.del(`/auth/identities/${identity.id}`, only.access)).status, 204);
      const left = (await only.c.get('/auth/identities', only.access)).body.identities as {
        id: string;
        provider: string;
      }[];
      assert.deepEqual(
        left.map((i) => i.provider),
        ['acme'],
      );
      isError(await only.c.del(`/auth/identities/${left[0]?.id}`, only.access), 409, 'last_login_method');
    });
  });
}
