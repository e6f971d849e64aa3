// The SDK in a real browser: its build (dist/index.js, made by tsup here, once) loaded by a page as
// a module, in headless Chromium (playwright-core), against each mode in turn: the embedded mode
// (one process), then the stack (every service its own process, two gateway replicas). The page
// is served from its own origin (http://localhost:<page port>) and calls Gatehouse at
// http://localhost:<api port>: cross-origin (CORS_ORIGINS), same-site (cookie mode works). In the
// stack, the scenarios with two tabs or two devices put the second on the other gateway: tab 1's
// SDK talks to gateway A, tab 2's to gateway B (its socket too), so what one does through A, the
// other hears through B.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { embeddedEnv } from '@gatehouse/kit/testing';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ADMIN_SERVER_ENV } from './admin-scenarios.ts';
import { claimsOf, uniqueEmail } from './client.ts';
import { freePort, node, type Proc, ROOT, waitForOk } from './processes.ts';
import { TEST_SERVER_ENV } from './scenarios.ts';
import { Stack } from './stack-processes.ts';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'correct horse battery';
/** Every wait in a page is bounded by this. */
const WAIT_MS = 10_000;

const SDK_DIR = join(ROOT, 'packages/sdk');

/** The test page: the built SDK as a module; `gh` is the handle the test drives. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>sdk test page</title></head>
<body>
<script type="module">
  import * as sdk from '/sdk/index.js';
  const params = new URLSearchParams(location.search);
  const client = sdk.createClient({
    url: params.get('api'),
    storage: params.get('storage') ?? 'localStorage',
    ping: { intervalMs: 5000, timeoutMs: 5000 },
  });
  const gh = { sdk, client, auth: [], events: [], statuses: [] };
  client.onAuthChange((user) => gh.auth.push(user === null ? null : user.id));
  client.onEvent((event) => gh.events.push(event));
  client.onRealtimeStatus((status) => gh.statuses.push(status));
  globalThis.gh = gh;
  gh.ready = client.restoreSession().then((user) => user && user.id, (err) => 'error: ' + err.message);
</script>
</body></html>`;

/** What the test reads of `gh` in a page (the page's own types are the SDK's). */
interface Handle {
  client: {
    register(input: { email: string; password: string }): Promise<{ id: string }>;
    login(input: { email: string; password: string }): Promise<{ type: string }>;
    logoutAll(): Promise<number>;
    logout(): Promise<void>;
    me(): Promise<{ id: string; email: string | null }>;
    refreshSession(): Promise<boolean>;
    getAccessToken(): Promise<string | null>;
    getSession(): Promise<{ id: string }>;
    isAuthenticated(): boolean;
    realtimeStatus: string;
    registerPasskey(options: { name?: string }): Promise<{ id: string; name: string }>;
    signInWithPasskey(options?: { email?: string }): Promise<{ id: string }>;
    listPasskeys(): Promise<{ id: string }[]>;
    deletePasskey(id: string): Promise<void>;
  };
  auth: (string | null)[];
  events: { type: string }[];
  statuses: string[];
  ready: Promise<string | null>;
}
// The page's globals, as the callbacks the test runs in the page see them.
declare global {
  var gh: Handle;
  var localStorage: { getItem(key: string): string | null };
}

/** The server under test, as the pages see it: tab 1 (and a page alone) on `a`, tab 2 (another device) on `b`. */
interface Target {
  a: string;
  b: string;
}

let distDir: string;
let bundle = '';
let pages: Server;
let browser: Browser;
let origin = '';

/** What every server under test is given, whatever the mode. */
const serverEnv = () => ({
  ...TEST_SERVER_ENV,
  ...ADMIN_SERVER_ENV,
  // Every request of the browser comes from 127.0.0.1: the per-address limit is not under test here.
  RATE_LIMIT_PER_IP_PER_MINUTE: '1000',
  CORS_ORIGINS: origin,
});

before(async () => {
  // The build, as `pnpm --filter @gatehouse/js build` runs it, into a directory of the test's own.
  distDir = mkdtempSync(join(tmpdir(), 'gatehouse-sdk-dist-'));
  await promisify(execFile)(
    process.execPath,
    [join(SDK_DIR, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', distDir],
    { cwd: SDK_DIR, timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } },
  );
  bundle = readFileSync(join(distDir, 'index.js'), 'utf8');
  assert.ok(readFileSync(join(distDir, 'index.d.ts'), 'utf8').includes('declare class GatehouseClient'));

  const pagePort = await freePort();
  origin = `http://localhost:${pagePort}`;
  pages = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (path === '/sdk/index.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => pages.listen(pagePort, '127.0.0.1', () => ok()));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--host-resolver-rules=MAP localhost 127.0.0.1'],
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (pages ? pages.close(ok) : ok(undefined)));
  if (distDir) rmSync(distDir, { recursive: true, force: true });
});

/** Where each page's SDK went: the origins of its requests (but the page's own) and its sockets' URLs. */
const traffic = new WeakMap<Page, { requests: Set<string>; sockets: string[] }>();

/** A tab of `context` on the test page, its SDK on `api`, once its restoreSession has answered. */
async function tab(context: BrowserContext, api: string, storage = 'localStorage'): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  const seen = { requests: new Set<string>(), sockets: [] as string[] };
  traffic.set(page, seen);
  page.on('request', (request) => {
    const at = new URL(request.url()).origin;
    if (at !== origin) seen.requests.add(at);
  });
  page.on('websocket', (socket) => seen.sockets.push(socket.url()));
  await page.goto(`${origin}/?api=${encodeURIComponent(api)}&storage=${storage}`, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof gh !== 'undefined');
  const ready = await page.evaluate(() => gh.ready);
  assert.ok(ready === null || !String(ready).startsWith('error'), `restoreSession: ${ready}`);
  return page;
}

/** Every request and socket of `page`'s SDK went to `api` (and there was a socket). */
function talkedOnlyTo(page: Page, api: string): void {
  const seen = traffic.get(page);
  assert.ok(seen);
  assert.deepEqual([...seen.requests], [new URL(api).origin], 'every request to its own server');
  assert.ok(seen.sockets.length > 0, 'a socket was opened');
  for (const url of seen.sockets) assert.equal(new URL(url).host, new URL(api).host, `its socket ${url}`);
}

const socketOpen = (page: Page) => page.waitForFunction(() => gh.client.realtimeStatus === 'open');
const stored = (page: Page) => page.evaluate(() => localStorage.getItem('gatehouse.session'));

/** The browser scenarios, against `target()` (the server a describe's before() started). */
function scenarios(target: () => Target): void {
  test('two tabs on one localStorage: sign in, refresh at the same moment (one request), logoutAll in tab 1 signs tab 2 out within 1 s', async () => {
    const { a, b } = target();
    const context = await browser.newContext();
    try {
      const refreshes: string[] = [];
      context.on('request', (request) => {
        if (request.method() === 'POST' && new URL(request.url()).pathname === '/auth/refresh') {
          refreshes.push(request.url());
        }
      });
      const tab1 = await tab(context, a);
      const email = uniqueEmail('browser');
      const user = await tab1.evaluate((input) => gh.client.register(input), { email, password: PASSWORD });
      assert.ok(await stored(tab1), 'the session is in localStorage');
      const tab2 = await tab(context, b);
      assert.equal(await tab2.evaluate(() => gh.ready), user.id, 'tab 2 found the session at load');
      await Promise.all([socketOpen(tab1), socketOpen(tab2)]);
      assert.equal(await tab1.evaluate('typeof navigator.locks?.request'), 'function', 'Web Locks in Chromium');

      // Both tabs refresh at once: the lock lets one spend the refresh token; the other uses its tokens.
      const before = await tab1.evaluate(() => gh.client.getAccessToken());
      // At one instant of the clock both tabs share: two evaluate calls leave the test one after
      // the other, and on a loaded machine the first tab's refresh could be over before the second
      // one's began (then the second rightly refreshes again: it was asked to, later).
      const at = Date.now() + 1000;
      const refreshAt = (when: number) =>
        new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, when - Date.now()))).then(() =>
          gh.client.refreshSession(),
        );
      const [r1, r2] = await Promise.all([tab1.evaluate(refreshAt, at), tab2.evaluate(refreshAt, at)]);
      assert.deepEqual([r1, r2], [true, true]);
      assert.equal(refreshes.length, 1, 'one refresh request on the wire');
      const [t1, t2] = await Promise.all([
        tab1.evaluate(() => gh.client.getAccessToken()),
        tab2.evaluate(() => gh.client.getAccessToken()),
      ]);
      assert.notEqual(t1, before);
      assert.equal(t1, t2, 'both tabs hold the new tokens');
      assert.equal(JSON.parse(String(await stored(tab2))).access_token, t1);
      // Still signed in, both: the server takes the new token from each tab, and each socket took it.
      assert.equal((await tab1.evaluate(() => gh.client.me())).id, user.id);
      assert.equal((await tab2.evaluate(() => gh.client.me())).id, user.id);
      for (const page of [tab1, tab2]) {
        await page.waitForFunction(() => gh.events.some((e) => e.type === 'auth_ok'));
        assert.equal(await page.evaluate(() => gh.client.realtimeStatus), 'open');
      }

      // Sign out everywhere from tab 1: tab 2 is signed out within a second.
      await tab1.evaluate(() => gh.client.logoutAll());
      const signedOutBy = Date.now() + 1000;
      await tab2.waitForFunction(
        () => gh.auth.at(-1) === null && localStorage.getItem('gatehouse.session') === null,
        null,
        { timeout: 1000 },
      );
      assert.ok(Date.now() <= signedOutBy + 50);
      assert.equal(await tab2.evaluate(() => gh.client.isAuthenticated()), false);
      assert.equal(await stored(tab2), null);
      // Tab 1: signed out at load, signed in, signed out.
      assert.deepEqual(await tab1.evaluate(() => gh.auth), [null, user.id, null]);
      assert.equal((await tab2.evaluate(() => gh.auth)).at(-1), null);
      await tab2.waitForFunction(() => gh.client.realtimeStatus === 'stopped');
      // Each tab spoke to its own server only (in the stack: tab 1 to gateway A, tab 2 to B).
      talkedOnlyTo(tab1, a);
      talkedOnlyTo(tab2, b);
    } finally {
      await context.close();
    }
  });

  test('another device (another browser context): its socket hears logoutAll and signs it out within 1 s', async () => {
    const { a, b } = target();
    const laptop = await browser.newContext();
    const phone = await browser.newContext();
    try {
      const here = await tab(laptop, a);
      const email = uniqueEmail('browser-device');
      await here.evaluate((input) => gh.client.register(input), { email, password: PASSWORD });
      const there = await tab(phone, b);
      const signedIn = await there.evaluate((input) => gh.client.login(input), { email, password: PASSWORD });
      assert.equal(signedIn.type, 'signed_in');
      await socketOpen(there);
      // Nothing is shared between the two contexts: only the server's push can tell the phone.
      await here.evaluate(() => gh.client.logoutAll());
      await there.waitForFunction(
        () =>
          gh.auth.at(-1) === null &&
          localStorage.getItem('gatehouse.session') === null &&
          gh.events.some((e) => e.type === 'sessions_purged'),
        null,
        { timeout: 1000 },
      );
      talkedOnlyTo(here, a);
      talkedOnlyTo(there, b);
    } finally {
      await laptop.close();
      await phone.close();
    }
  });

  test('cookie mode: no tokens in the page, the session in HttpOnly cookies; the socket rides on the cookie', async () => {
    const { a, b } = target();
    const context = await browser.newContext();
    const other = await browser.newContext();
    try {
      const page = await tab(context, a, 'cookie');
      const email = uniqueEmail('browser-cookie');
      const user = await page.evaluate((input) => gh.client.register(input), { email, password: PASSWORD });
      assert.equal(await page.evaluate(() => gh.client.getAccessToken()), null);
      assert.equal(await page.evaluate('localStorage.length'), 0, 'nothing stored');
      const cookies = new Map((await context.cookies()).map((c) => [c.name, c]));
      assert.equal(cookies.get('gh_access')?.httpOnly, true);
      assert.equal(cookies.get('gh_refresh')?.httpOnly, true);
      assert.equal(cookies.get('gh_refresh')?.path, '/auth/refresh');
      assert.equal(cookies.get('gh_csrf')?.httpOnly, false, 'the CSRF token is for the page to read');
      assert.equal((await page.evaluate(() => gh.client.me())).id, user.id);
      // A refresh by cookie (POST with the CSRF header), then a reload: the session is restored from the cookies.
      const refreshes: (string | null)[] = [];
      context.on('request', (request) => {
        if (request.method() === 'POST' && new URL(request.url()).pathname === '/auth/refresh') {
          refreshes.push(request.headers()['x-csrf-token'] ?? null);
        }
      });
      const accessBefore = cookies.get('gh_access')?.value;
      assert.equal(await page.evaluate(() => gh.client.refreshSession()), true);
      assert.deepEqual(refreshes, [cookies.get('gh_csrf')?.value], 'one refresh, with the CSRF cookie echoed');
      const rotated = (await context.cookies()).find((c) => c.name === 'gh_access')?.value;
      assert.ok(rotated && rotated !== accessBefore, 'the access cookie was rotated');
      await page.reload({ waitUntil: 'load' });
      await page.waitForFunction(() => typeof gh !== 'undefined');
      assert.equal(await page.evaluate(() => gh.ready), user.id);
      await socketOpen(page);
      // Signed out from elsewhere: the cookie-authenticated socket hears it.
      const device = await tab(other, b);
      await device.evaluate((input) => gh.client.login(input), { email, password: PASSWORD });
      await device.evaluate(() => gh.client.logoutAll());
      await page.waitForFunction(() => gh.auth.at(-1) === null, null, { timeout: 1000 });
      assert.equal(await page.evaluate(() => gh.client.isAuthenticated()), false);
      talkedOnlyTo(page, a);
    } finally {
      await context.close();
      await other.close();
    }
  });

  test('passkeys through the browser helpers: register one (virtual authenticator), then sign in with it alone', async () => {
    const context = await browser.newContext();
    try {
      const page = await tab(context, target().a);
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });
      const email = uniqueEmail('browser-passkey');
      const user = await page.evaluate((input) => gh.client.register(input), { email, password: PASSWORD });
      const created = await page.evaluate(() => gh.client.registerPasskey({ name: 'Test laptop' }));
      assert.equal(created.name, 'Test laptop');
      assert.equal((await page.evaluate(() => gh.client.listPasskeys())).length, 1);
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      assert.equal(credentials.length, 1, 'the authenticator holds the new credential');
      assert.equal(credentials[0]?.isResidentCredential, true);
      await page.evaluate(() => gh.client.logout());
      assert.equal(await page.evaluate(() => gh.client.isAuthenticated()), false);
      // A discoverable credential: no email needed.
      const signedIn = await page.evaluate(() => gh.client.signInWithPasskey());
      assert.equal(signedIn.id, user.id);
      const token = String(await page.evaluate(() => gh.client.getAccessToken()));
      assert.deepEqual(claimsOf(token).amr, ['webauthn']);
      // And with the email, the account's own passkeys.
      await page.evaluate(() => gh.client.logout());
      const again = await page.evaluate((e) => gh.client.signInWithPasskey({ email: e }), email);
      assert.equal(again.id, user.id);
      // Removed: the list is empty, and it signs in no more.
      await page.evaluate((id) => gh.client.deletePasskey(id), created.id);
      assert.deepEqual(await page.evaluate(() => gh.client.listPasskeys()), []);
    } finally {
      await context.close();
    }
  });
}

describe('sdk in Chromium, the embedded mode (one process)', () => {
  let dataDir = '';
  let proc: Proc | undefined;
  let api = '';
  before(async () => {
    const apiPort = await freePort();
    api = `http://localhost:${apiPort}`;
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-sdk-browser-'));
    proc = node('embedded-sdk-browser', 'apps/embedded/src/main.ts', {
      ...serverEnv(),
      ...embeddedEnv(apiPort, dataDir),
    });
    await waitForOk(`http://127.0.0.1:${apiPort}/readyz`, [proc]);
  });
  after(async () => {
    await proc?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  // One process: both tabs (and both devices) on it.
  scenarios(() => ({ a: api, b: api }));
});

describe('sdk in Chromium, the stack: tab 1 on gateway A, tab 2 (and the other device) on gateway B', () => {
  let stack: Stack | undefined;
  let a = '';
  let b = '';
  before(async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    a = `http://localhost:${portA}`;
    b = `http://localhost:${portB}`;
    // Two replicas behind one public URL, as behind a load balancer; every service knows the page's
    // origin (the gateways for CORS, mfa for the passkeys' ceremonies).
    stack = new Stack({
      env: { ...serverEnv(), PUBLIC_URL: a },
      gateways: [
        { name: 'gateway-a', port: portA },
        { name: 'gateway-b', port: portB },
      ],
    });
    await stack.start();
  });
  after(async () => {
    await stack?.stop();
  });

  scenarios(() => ({ a, b }));
});
