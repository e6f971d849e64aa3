import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import {
  type ClientOptions,
  createClient,
  type FetchLike,
  type GatehouseClient,
  GatehouseError,
  memoryStorage,
  type RealtimeEvent,
  type TokenStorage,
  type User,
} from '../../packages/sdk/src/index.ts';
import { ADMIN_SERVER_ENV } from './admin-scenarios.ts';
import { claimsOf, client, eventually, uniqueEmail } from './client.ts';
import { linkIn, type Mailbox, withLink } from './mailbox.ts';
import type { SocialPeers } from './social-scenarios.ts';
import { totp } from './totp.ts';

// The JavaScript SDK (packages/sdk, from its sources) against a running Gatehouse: every method
// that can run in Node, over real HTTP and (realtime) real WebSockets through the optional peer
// `ws`. What the SDK says is checked against the server through the plain HTTP client too.

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';
/** Allow-listed by EMAIL_SERVER_ENV's REDIRECT_ALLOWLIST. */
const APP = 'http://app.test/signed-in';

const rnd = () => Math.floor(Math.random() * 250) + 1;

/** A fetch that counts the requests by "METHOD /path". */
function countingFetch() {
  const counts = new Map<string, number>();
  const fetchFn: FetchLike = (input, init) => {
    const key = `${init.method ?? 'GET'} ${new URL(input).pathname}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return fetch(input, init);
  };
  return { fetch: fetchFn, count: (key: string) => counts.get(key) ?? 0 };
}

/** A movable clock: `skew(ms)` makes every token the client holds look that much older. */
function skewableClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, skew: (ms: number) => (offset += ms) };
}

/**
 * SDK scenarios. `url()` is the gateway the clients call; `otherGateway()` another replica
 * (gateway B in the stack, the same URL embedded), where the realtime listener connects.
 * `social`, when given, drives a social sign-in through the test's OpenID Connect peer.
 */
export function sdkScenarios(
  name: string,
  url: () => string,
  otherGateway: () => string,
  mailbox: () => Mailbox,
  social?: () => SocialPeers,
): void {
  const made: GatehouseClient[] = [];
  after(() => {
    for (const c of made) c.close();
  });

  /** A client as one end user's browser tab would be: its own address, its own memory storage. */
  function sdk(options: Partial<ClientOptions> & { base?: string } = {}): GatehouseClient {
    const { base, ...rest } = options;
    const c = createClient({
      url: base ?? url(),
      storage: memoryStorage(),
      realtime: false,
      headers: { 'x-forwarded-for': `10.${rnd()}.${rnd()}.${rnd()}` },
      ...rest,
    });
    made.push(c);
    return c;
  }

  async function registered(options: Partial<ClientOptions> & { base?: string } = {}) {
    const c = sdk(options);
    const email = uniqueEmail('sdk');
    const user = await c.register({ email, password: PASSWORD, name: 'Ada' });
    return { c, email, user };
  }

  async function adminClient(): Promise<GatehouseClient> {
    const c = sdk();
    const res = await c.login({ email: ADMIN_SERVER_ENV.ADMIN_EMAIL, password: ADMIN_SERVER_ENV.ADMIN_PASSWORD });
    assert.equal(res.type, 'signed_in');
    return c;
  }

  const tokenOf = async (c: GatehouseClient) => {
    const token = await c.getAccessToken();
    assert.ok(token, 'the client holds an access token');
    return token;
  };
  /** The server's own view of a token, through the plain HTTP client. */
  const sessionStatus = async (token: string, base = url()) => (await client(base).get('/auth/session', token)).status;

  describe(`${name}: sdk: sign-up, sign-in and the account`, () => {
    test('register, me, updateMe, onAuthChange and the cache; logout ends the session on the server', async () => {
      const c = sdk();
      const seen: (User | null)[] = [];
      c.onAuthChange((u) => seen.push(u));
      const email = uniqueEmail('sdk-reg');
      const user = await c.register({ email, password: PASSWORD, name: 'Ada', metadata: { plan: 'free' } });
      assert.equal(user.email, email);
      assert.deepEqual(user.metadata, { plan: 'free' });
      assert.equal(c.isAuthenticated(), true);
      assert.equal(c.getCachedUser()?.id, user.id);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.id, user.id);
      const me = await c.me();
      assert.equal(me.id, user.id);
      const updated = await c.updateMe({ name: 'Ada Lovelace', metadata: { plan: 'pro' } });
      assert.equal(updated.name, 'Ada Lovelace');
      assert.equal(c.getCachedUser()?.name, 'Ada Lovelace');
      assert.equal(seen.at(-1)?.name, 'Ada Lovelace');
      const check = await c.getSession();
      const token = await tokenOf(c);
      assert.equal(check.id, claimsOf(token).sid);
      assert.equal(check.user_id, user.id);
      await c.logout();
      assert.equal(c.isAuthenticated(), false);
      assert.equal(seen.at(-1), null);
      assert.equal(await sessionStatus(token), 401, 'the server refuses the old token');
    });

    test('login: wrong password, email taken, bad input: GatehouseError with status, code and details', async () => {
      const { email } = await registered();
      const c = sdk();
      await assert.rejects(c.login({ email, password: 'not the password' }), (err) => {
        assert.ok(err instanceof GatehouseError);
        assert.equal(err.status, 401);
        assert.equal(err.code, 'invalid_credentials');
        assert.equal(typeof err.message, 'string');
        return true;
      });
      await assert.rejects(c.register({ email, password: PASSWORD }), (err) => {
        return GatehouseError.is(err, 'email_taken') && err.status === 409;
      });
      await assert.rejects(c.register({ email: uniqueEmail(), password: 'short' }), (err) => {
        return GatehouseError.is(err, 'validation_failed') && err.status === 400 && (err.details?.length ?? 0) > 0;
      });
      assert.equal(c.isAuthenticated(), false);
      const ok = await c.login({ email: email.toUpperCase(), password: PASSWORD });
      assert.equal(ok.type, 'signed_in');
    });

    test('a server that does not answer: network_error, status 0', async () => {
      const c = sdk({ base: 'http://127.0.0.1:9', timeoutMs: 3000 });
      await assert.rejects(c.login({ email: uniqueEmail(), password: PASSWORD }), (err) => {
        return GatehouseError.is(err, 'network_error') && err.status === 0;
      });
    });

    test('restoreSession: a page loaded later finds the session in its storage and checks it with the server', async () => {
      const storage = memoryStorage();
      const first = sdk({ storage });
      const email = uniqueEmail('sdk-restore');
      const user = await first.register({ email, password: PASSWORD });
      const clock = skewableClock();
      const counted = countingFetch();
      const page = sdk({ storage, clock: clock.now, fetch: counted.fetch });
      assert.equal(page.getCachedUser()?.id, user.id, 'known before any request');
      const seen: (User | null)[] = [];
      page.onAuthChange((u) => seen.push(u));
      clock.skew(901_000); // the page comes back after the token expired
      const restored = await page.restoreSession();
      assert.equal(restored?.id, user.id);
      assert.equal(counted.count('POST /auth/refresh'), 1, 'refreshed before the check');
      assert.equal(seen.at(-1)?.id, user.id);
      // The session is ended from another device: the next page load finds out, and clears it.
      const elsewhere = sdk();
      await elsewhere.login({ email, password: PASSWORD });
      await elsewhere.logoutAll();
      const later = sdk({ storage });
      assert.equal(later.isAuthenticated(), true, 'still stored');
      assert.equal(await later.restoreSession(), null);
      assert.equal(later.isAuthenticated(), false);
      assert.equal(await storage.get('session'), null);
    });

    test('deleteAccount: signed out, the sign-in refused afterwards', async () => {
      const { c, email } = await registered();
      const token = await tokenOf(c);
      await c.deleteAccount({ password: PASSWORD });
      assert.equal(c.isAuthenticated(), false);
      assert.equal(await sessionStatus(token), 401);
      await assert.rejects(sdk().login({ email, password: PASSWORD }), (err) =>
        GatehouseError.is(err, 'invalid_credentials'),
      );
    });
  });

  describe(`${name}: sdk: refresh against the real server`, () => {
    test('20 concurrent me() with an expired access token: exactly one POST /auth/refresh, all 20 answered', async () => {
      const clock = skewableClock();
      const counted = countingFetch();
      const { c, user } = await registered({ clock: clock.now, fetch: counted.fetch });
      const before = await tokenOf(c);
      clock.skew(901_000);
      const users = await Promise.all(Array.from({ length: 20 }, () => c.me()));
      assert.equal(users.length, 20);
      assert.ok(users.every((u) => u.id === user.id));
      assert.equal(counted.count('POST /auth/refresh'), 1, 'one refresh on the wire');
      assert.equal(counted.count('GET /auth/me'), 20, 'each call sent once, with the new token');
      const after = await tokenOf(c);
      assert.notEqual(after, before);
      assert.equal(claimsOf(after).sid, claimsOf(before).sid, 'the same session, rotated');
      assert.equal(await sessionStatus(after), 200);
    });

    test('two clients on one storage (two tabs) with an expired token: one refresh between them', async () => {
      const storage = memoryStorage();
      const clock = skewableClock();
      const counted = countingFetch();
      const tab1 = sdk({ storage, clock: clock.now, fetch: counted.fetch, locks: null });
      const tab2 = sdk({ storage, clock: clock.now, fetch: counted.fetch, locks: null });
      await tab1.register({ email: uniqueEmail('sdk-tabs'), password: PASSWORD });
      assert.ok(await tab2.restoreSession());
      clock.skew(901_000);
      await Promise.all([...Array.from({ length: 5 }, () => tab1.me()), ...Array.from({ length: 5 }, () => tab2.me())]);
      assert.equal(counted.count('POST /auth/refresh'), 1);
      assert.equal(await tab1.getAccessToken(), await tab2.getAccessToken());
      // Past the reuse interval (2 s), the spent refresh token would be theft: the session must
      // still be alive, i.e. nobody presented it twice.
      await new Promise((r) => setTimeout(r, 2200));
      assert.equal(await tab2.refreshSession(), true);
      assert.equal(await sessionStatus(await tokenOf(tab1)), 200);
    });

    test('a refresh refused (the session was ended elsewhere): storage cleared, onAuthChange(null)', async () => {
      const storage: TokenStorage = memoryStorage();
      const clock = skewableClock();
      const { c, email } = await registered({ storage, clock: clock.now });
      const seen: (User | null)[] = [];
      c.onAuthChange((u) => seen.push(u));
      const other = sdk();
      await other.login({ email, password: PASSWORD });
      await other.logoutAll();
      clock.skew(901_000);
      await assert.rejects(c.me(), (err) => GatehouseError.is(err) && err.status === 401);
      assert.equal(seen.at(-1), null);
      assert.equal(await storage.get('session'), null);
      assert.equal(c.isAuthenticated(), false);
    });

    test('startSessionWatch: a session revoked elsewhere is noticed by polling', async () => {
      const { c, email } = await registered();
      const seen: (User | null)[] = [];
      c.onAuthChange((u) => seen.push(u));
      const stop = c.startSessionWatch({ intervalMs: 200 });
      try {
        const other = sdk();
        await other.login({ email, password: PASSWORD });
        await other.logoutAll();
        await eventually(async () => seen.at(-1) === null, 3000);
        assert.equal(c.isAuthenticated(), false);
      } finally {
        stop();
      }
    });
  });

  describe(`${name}: sdk: second factors`, () => {
    test('TOTP: setup, enable, login answers the challenge, verifyMfa with a code and with a recovery code, regenerate, disable', async () => {
      const { c, email } = await registered();
      const setup = await c.setupTotp();
      assert.match(setup.otpauth_url, /^otpauth:\/\/totp\//);
      const codes = await c.enableTotp(totp(setup.secret));
      assert.equal(codes.length, 10);
      assert.deepEqual(await c.getMfaStatus(), { totp: true, passkeys: 0, recovery_codes_left: 10 });
      assert.equal((await c.me()).mfa_enabled, true);

      const second = sdk();
      const challenged = await second.login({ email, password: PASSWORD });
      assert.equal(challenged.type, 'mfa_required');
      if (challenged.type !== 'mfa_required') return;
      assert.equal(second.isAuthenticated(), false);
      assert.ok(challenged.challenge.methods.includes('totp'));
      await assert.rejects(second.verifyMfa(challenged.challenge, { code: totp(setup.secret, 5) }), (err) =>
        GatehouseError.is(err, 'invalid_code'),
      );
      const user = await second.verifyMfa(challenged.challenge, { code: totp(setup.secret, 1) });
      assert.equal(user.email, email);
      assert.deepEqual(claimsOf(await tokenOf(second)).amr, ['pwd', 'otp']);

      const third = sdk();
      const again = await third.login({ email, password: PASSWORD });
      assert.equal(again.type, 'mfa_required');
      if (again.type !== 'mfa_required') return;
      await third.verifyMfa(again.challenge.mfa_token, { recoveryCode: codes[0] as string });
      assert.equal((await third.getMfaStatus()).recovery_codes_left, 9);

      const fresh = await third.regenerateRecoveryCodes(codes[1] as string);
      assert.equal(fresh.length, 10);
      await assert.rejects(third.disableTotp(codes[2] as string), (err) => GatehouseError.is(err, 'invalid_code'));
      await third.disableTotp(fresh[0] as string);
      assert.equal((await third.getMfaStatus()).totp, false);
      const plain = await sdk().login({ email, password: PASSWORD });
      assert.equal(plain.type, 'signed_in');
    });
  });

  describe(`${name}: sdk: mailed links`, () => {
    test('magic link: request, then verify the mailed token (the account is made on first use)', async () => {
      const c = sdk();
      const email = uniqueEmail('sdk-magic');
      await c.requestMagicLink(email);
      const mail = await mailbox().waitFor(email, 1, withLink('magic_link'));
      const token = linkIn(mail.text).searchParams.get('token') ?? '';
      const res = await c.verifyMagicLink(token);
      assert.equal(res.type, 'signed_in');
      if (res.type !== 'signed_in') return;
      assert.equal(res.user.email, email);
      assert.equal(res.user.email_verified, true);
      assert.equal(c.isAuthenticated(), true);
      await assert.rejects(sdk().verifyMagicLink(token), (err) => GatehouseError.is(err, 'invalid_token'));
    });

    test('verification: the mailed token verifies the address; resend mails a new link', async () => {
      const { c, email, user } = await registered();
      assert.equal(user.email_verified, false);
      await mailbox().waitFor(email, 1, withLink('verify_email'));
      await c.resendVerification();
      const resent = await mailbox().waitFor(email, 2, withLink('verify_email'));
      const token = linkIn(resent.text).searchParams.get('token') ?? '';
      const verified = await c.verifyEmail(token);
      assert.equal(verified.email_verified, true);
      assert.equal(c.getCachedUser()?.email_verified, true, 'the cached user follows');
      assert.equal((await c.me()).email_verified, true);
    });

    test('password reset: forgot, the mailed token, reset; the old session ends, the new password signs in', async () => {
      const { c, email } = await registered();
      const seen: (User | null)[] = [];
      c.onAuthChange((u) => seen.push(u));
      const old = await tokenOf(c);
      const anonymous = sdk();
      await anonymous.forgotPassword(email);
      await anonymous.forgotPassword(uniqueEmail('nobody')); // the same answer for an unknown address
      const mail = await mailbox().waitFor(email, 1, withLink('reset_password'));
      const token = linkIn(mail.text).searchParams.get('token') ?? '';
      await anonymous.resetPassword(token, NEW_PASSWORD);
      assert.equal(await sessionStatus(old), 401);
      await assert.rejects(c.me(), (err) => GatehouseError.is(err) && err.status === 401);
      assert.equal(seen.at(-1), null, 'the client whose session ended is signed out');
      assert.equal((await sdk().login({ email, password: NEW_PASSWORD })).type, 'signed_in');
      await assert.rejects(anonymous.resetPassword(token, PASSWORD), (err) => GatehouseError.is(err, 'invalid_token'));
    });

    test('changePassword: every other session ends, this one lives', async () => {
      const { c, email } = await registered();
      const other = sdk();
      await other.login({ email, password: PASSWORD });
      await assert.rejects(c.changePassword('wrong password', NEW_PASSWORD), (err) =>
        GatehouseError.is(err, 'invalid_credentials'),
      );
      await c.changePassword(PASSWORD, NEW_PASSWORD);
      assert.equal((await c.me()).email, email);
      await assert.rejects(other.me(), (err) => GatehouseError.is(err) && err.status === 401);
      assert.equal(other.isAuthenticated(), false);
      assert.equal((await sdk().login({ email, password: NEW_PASSWORD })).type, 'signed_in');
    });
  });

  describe(`${name}: sdk: sessions, API keys, guests, providers`, () => {
    test('listSessions marks this one; revokeSession ends another, and revoking this one signs out', async () => {
      const { c, email } = await registered();
      const other = sdk();
      await other.login({ email, password: PASSWORD });
      const sessions = await c.listSessions();
      assert.equal(sessions.length, 2);
      const mine = sessions.find((s) => s.current);
      const theirs = sessions.find((s) => !s.current);
      assert.equal(mine?.id, claimsOf(await tokenOf(c)).sid);
      assert.ok(theirs);
      await c.revokeSession(theirs.id);
      await assert.rejects(other.me(), (err) => GatehouseError.is(err) && err.status === 401);
      assert.equal(other.isAuthenticated(), false);
      const token = await tokenOf(c);
      await c.revokeSession(mine?.id as string);
      assert.equal(c.isAuthenticated(), false);
      assert.equal(await sessionStatus(token), 401);
    });

    test('API keys: create, a client with apiKey acts as the user without refreshing, list, revoke', async () => {
      const { c, user } = await registered();
      const created = await c.createApiKey({ name: 'ci', expiresInDays: 30 });
      assert.match(created.key, /^uk_/);
      assert.ok(created.expires_at);
      const counted = countingFetch();
      const keyed = sdk({ apiKey: created.key, fetch: counted.fetch, realtime: true });
      assert.equal(keyed.isAuthenticated(), true);
      assert.equal((await keyed.me()).id, user.id);
      const listed = await c.listApiKeys();
      assert.deepEqual(
        listed.map((k) => k.id),
        [created.id],
      );
      assert.equal(listed[0]?.prefix, created.prefix);
      // A key cannot manage keys.
      await assert.rejects(keyed.createApiKey({ name: 'nested' }), (err) => GatehouseError.is(err, 'forbidden'));
      await c.revokeApiKey(created.id);
      await assert.rejects(keyed.me(), (err) => GatehouseError.is(err, 'unauthorized'));
      assert.equal(counted.count('POST /auth/refresh'), 0, 'a key never refreshes');
      assert.deepEqual(await c.listApiKeys(), []);
    });

    test('guests: signInAsGuest, then convertGuest keeps the id; a guest cannot make API keys', async () => {
      const c = sdk();
      const guest = await c.signInAsGuest({ name: 'Visitor' });
      assert.equal(guest.role, 'guest');
      assert.equal(guest.email, null);
      await assert.rejects(c.createApiKey({ name: 'x' }), (err) => GatehouseError.is(err, 'forbidden'));
      const email = uniqueEmail('sdk-guest');
      const converted = await c.convertGuest({ email, password: PASSWORD });
      assert.equal(converted.id, guest.id);
      assert.equal(converted.role, 'user');
      assert.equal(c.getCachedUser()?.role, 'user');
      assert.equal((await c.me()).email, email);
    });

    test('getProviders lists the configured providers; signInWithProvider answers the start URL in Node', async () => {
      const c = sdk();
      const providers = await c.getProviders();
      assert.ok(Array.isArray(providers));
      if (social) {
        assert.ok(providers.some((p) => p.id === 'acme' && p.type === 'oidc'));
      }
      const start = new URL(c.signInWithProvider('acme', { redirectTo: APP }));
      assert.equal(start.href.startsWith(`${url()}/auth/oauth/acme?`), true);
      assert.equal(start.searchParams.get('redirect_to'), APP);
    });

    if (social) {
      test('social sign-in: the start URL through the OpenID Connect peer, then exchangeCode signs in', async () => {
        const { acme } = social();
        const sub = randomUUID();
        const email = uniqueEmail('sdk-acme');
        acme.setAccount(sub, { email, email_verified: true, name: 'Ada Acme' });
        const c = sdk();
        const jar = new CookieJar();
        const toProvider = await jar.get(c.signInWithProvider('acme', { redirectTo: APP }));
        assert.equal(toProvider.status, 302);
        const back = await acme.authorize(new URL(toProvider.headers.get('location') ?? ''), { as: sub });
        const toApp = await jar.get(new URL(back.pathname + back.search, otherGateway()));
        assert.equal(toApp.status, 302);
        const code = new URL(toApp.headers.get('location') ?? '').searchParams.get('code');
        assert.ok(code, 'the redirect back carries a code');
        const res = await c.exchangeCode(code);
        assert.equal(res.type, 'signed_in');
        if (res.type !== 'signed_in') return;
        assert.equal(res.user.email, email);
        assert.deepEqual(claimsOf(await tokenOf(c)).amr, ['oauth']);
        assert.deepEqual(
          (await c.listIdentities()).map((i) => i.provider),
          ['acme'],
        );
        await assert.rejects(sdk().exchangeCode(code), (err) => GatehouseError.is(err, 'invalid_token'));
      });

      test('linkProvider: the provider account linked to the signed-in user; unlinkIdentity removes it', async () => {
        const { acme } = social();
        const sub = randomUUID();
        acme.setAccount(sub, { email: uniqueEmail('sdk-link'), email_verified: true });
        const { c } = await registered();
        const start = await c.linkProvider('acme', { redirectTo: APP });
        const jar = new CookieJar();
        const toProvider = await jar.get(start);
        assert.equal(toProvider.status, 302);
        const back = await acme.authorize(new URL(toProvider.headers.get('location') ?? ''), { as: sub });
        const toApp = await jar.get(new URL(back.pathname + back.search, otherGateway()));
        assert.equal(new URL(toApp.headers.get('location') ?? '').searchParams.get('linked'), 'acme');
        const identities = await c.listIdentities();
        assert.deepEqual(
          identities.map((i) => i.provider),
          ['acme'],
        );
        await c.unlinkIdentity(identities[0]?.id as string);
        assert.deepEqual(await c.listIdentities(), []);
      });
    }
  });

  describe(`${name}: sdk: the admin namespace`, () => {
    test('users: search, get, patch, ban (ends the sessions), role, sessions and their revocation, delete', async () => {
      const admin = await adminClient();
      const tag = `sdkfind${Math.floor(Math.random() * 1e9)}`;
      const a = await registered();
      const target = sdk();
      const targetEmail = `${tag}-${randomUUID().slice(0, 6)}@example.com`;
      const targetUser = await target.register({ email: targetEmail, password: PASSWORD, name: `Zed ${tag}` });
      const page = await admin.admin.listUsers({ search: tag.toUpperCase(), limit: 10 });
      assert.deepEqual(
        page.users.map((u) => u.id),
        [targetUser.id],
      );
      assert.equal(page.next_cursor, null);
      assert.equal((await admin.admin.searchUsers(tag)).length, 1);
      const got = await admin.admin.getUser(targetUser.id);
      assert.equal(got.banned, false);
      assert.equal(
        (await admin.admin.updateUser(targetUser.id, { name: 'Renamed', email_verified: true })).name,
        'Renamed',
      );

      const sessions = await admin.admin.listUserSessions(targetUser.id);
      assert.equal(sessions.length, 1);
      const banned = await admin.admin.banUser(targetUser.id);
      assert.equal(banned.banned, true);
      await assert.rejects(target.me(), (err) => GatehouseError.is(err) && err.status === 401);
      assert.equal(target.isAuthenticated(), false, 'the banned user’s client is signed out');
      await assert.rejects(sdk().login({ email: targetEmail, password: PASSWORD }), (err) =>
        GatehouseError.is(err, 'user_banned'),
      );
      await admin.admin.unbanUser(targetUser.id);
      assert.equal((await target.login({ email: targetEmail, password: PASSWORD })).type, 'signed_in');
      assert.equal((await admin.admin.setRole(targetUser.id, 'admin')).role, 'admin');
      assert.equal((await admin.admin.setRole(targetUser.id, 'user')).role, 'user');
      await target.login({ email: targetEmail, password: PASSWORD });
      await target.login({ email: targetEmail, password: PASSWORD });
      assert.equal(await admin.admin.revokeUserSessions(targetUser.id), 2);
      assert.deepEqual(await admin.admin.listUserSessions(targetUser.id), []);
      await admin.admin.deleteUser(targetUser.id);
      await assert.rejects(admin.admin.getUser(targetUser.id), (err) => GatehouseError.is(err, 'not_found'));
      // Anyone else: 403.
      await assert.rejects(a.c.admin.listUsers(), (err) => GatehouseError.is(err, 'forbidden') && err.status === 403);
    });

    test('invitations: create (mailed), list, accept through the SDK, revoke', async () => {
      const admin = await adminClient();
      const email = uniqueEmail('sdk-invited');
      const invitation = await admin.admin.createInvitation({ email, role: 'user' });
      assert.equal(invitation.email, email);
      assert.ok((await admin.admin.listInvitations()).some((i) => i.id === invitation.id));
      const mail = await mailbox().waitFor(email, 1, withLink('invitation'));
      const token = linkIn(mail.text).searchParams.get('token') ?? '';
      const invited = sdk();
      const user = await invited.acceptInvitation({ token, password: PASSWORD, name: 'Invited' });
      assert.equal(user.email, email);
      assert.equal(invited.isAuthenticated(), true);
      const second = await admin.admin.createInvitation({ email: uniqueEmail('sdk-revoked') });
      await admin.admin.revokeInvitation(second.id);
      assert.ok(!(await admin.admin.listInvitations()).some((i) => i.id === second.id));
    });

    test('projects: create, list, get, patch, rotate keys; the secret key is an admin client, the publishable key names the project', async () => {
      const admin = await adminClient();
      const project = await admin.admin.createProject({ name: `sdk ${randomUUID().slice(0, 6)}` });
      assert.match(project.secret_key, /^sk_/);
      assert.match(project.publishable_key, /^pk_/);
      assert.ok((await admin.admin.listProjects()).some((p) => p.id === project.id));
      assert.equal((await admin.admin.getProject(project.id)).name, project.name);
      await assert.rejects(admin.admin.getProject(randomUUID()), (err) => GatehouseError.is(err, 'not_found'));
      const patched = await admin.admin.updateProject(project.id, {
        name: 'Renamed project',
        settings: { access_token_ttl: 600 },
      });
      assert.equal(patched.name, 'Renamed project');
      assert.equal(patched.settings.access_token_ttl, 600);

      // The same address in the default project and in this one: two users.
      const email = uniqueEmail('sdk-tenant');
      const inDefault = await sdk().register({ email, password: PASSWORD });
      const tenant = sdk({ publishableKey: project.publishable_key });
      const inProject = await tenant.register({ email, password: PASSWORD });
      assert.notEqual(inProject.id, inDefault.id);
      assert.equal((await tenant.me()).id, inProject.id);
      assert.equal(
        claimsOf(await tokenOf(tenant)).exp as number,
        (claimsOf(await tokenOf(tenant)).iat as number) + 600,
      );

      const projectAdmin = sdk({ apiKey: project.secret_key });
      const users = await projectAdmin.admin.listUsers();
      assert.deepEqual(
        users.users.map((u) => u.id),
        [inProject.id],
      );
      const keys = await admin.admin.rotateProjectKeys(project.id);
      assert.notEqual(keys.secret_key, project.secret_key);
      await eventually(async () => {
        try {
          await projectAdmin.admin.listUsers();
          return false;
        } catch (err) {
          return GatehouseError.is(err) && err.status === 401;
        }
      }, 5000);
      assert.equal((await sdk({ apiKey: keys.secret_key }).admin.listUsers()).users.length, 1);
    });

    test('the audit log: queried by user, newest first', async () => {
      const admin = await adminClient();
      const { c, user, email } = await registered();
      await c.logout();
      await assert.rejects(sdk().login({ email, password: 'wrong password' }));
      let types: string[] = [];
      await eventually(async () => {
        const page = await admin.admin.queryAudit({ user_id: user.id, limit: 10 });
        types = page.events.map((e) => e.type);
        return types.includes('sign_out') && types.includes('sign_in.failed');
      }, 15_000);
      assert.ok(types.includes('sign_in.succeeded'));
      const failures = await admin.admin.queryAudit({ user_id: user.id, type: 'sign_in.failed' });
      assert.ok(failures.events.every((e) => e.type === 'sign_in.failed' && e.user_id === user.id));
    });
  });

  describe(`${name}: sdk: realtime`, () => {
    test('a client connected to the other gateway hears logoutAll made through this one: storage cleared, onAuthChange(null) within 1 s', async () => {
      const storage = memoryStorage();
      const { c: speaker, email } = await registered();
      const listener = sdk({ base: otherGateway(), storage, realtime: true });
      const seen: (User | null)[] = [];
      const events: RealtimeEvent[] = [];
      listener.onAuthChange((u) => seen.push(u));
      listener.onEvent((e) => events.push(e));
      await listener.login({ email, password: PASSWORD });
      await eventually(async () => listener.realtimeStatus === 'open', 5000);
      const listenerToken = await tokenOf(listener);
      assert.ok(await storage.get('session'));

      await speaker.logoutAll();
      const revokedAt = Date.now();
      await eventually(async () => seen.at(-1) === null, 1000);
      const took = Date.now() - revokedAt;
      assert.ok(took <= 1000, `signed out ${took} ms after the call returned`);
      assert.equal(await storage.get('session'), null, 'the tokens are gone');
      assert.equal(listener.isAuthenticated(), false);
      assert.ok(
        events.some((e) => e.type === 'sessions_purged'),
        `heard over the socket: ${JSON.stringify(events)}`,
      );
      assert.equal(await sessionStatus(listenerToken, otherGateway()), 401);
      await eventually(async () => listener.realtimeStatus === 'stopped', 2000);
    });

    test('after a refresh the socket takes the fresh token (auth_ok); a ping is answered (pong); another session’s end is only an event', async () => {
      const { email } = await registered();
      const c = sdk({ base: otherGateway(), realtime: true, ping: { intervalMs: 300, timeoutMs: 2000 } });
      const events: RealtimeEvent[] = [];
      c.onEvent((e) => events.push(e));
      await c.login({ email, password: PASSWORD });
      await eventually(async () => c.realtimeStatus === 'open', 5000);
      assert.equal(await c.refreshSession(), true);
      await eventually(async () => events.some((e) => e.type === 'auth_ok'), 3000);
      await eventually(async () => events.some((e) => e.type === 'pong'), 3000);
      const other = sdk();
      await other.login({ email, password: PASSWORD });
      const otherSid = claimsOf(await tokenOf(other)).sid;
      await other.logout();
      await eventually(async () => events.some((e) => e.type === 'session_revoked' && e.session_id === otherSid), 3000);
      assert.equal(c.isAuthenticated(), true, 'another session ended, not this one');
      assert.equal(c.realtimeStatus, 'open');
      assert.equal((await c.me()).email, email);
      await c.logout();
    });

    test('its own session revoked from another device: session_revoked, then signed out', async () => {
      const { email } = await registered();
      const c = sdk({ base: otherGateway(), realtime: true });
      const seen: (User | null)[] = [];
      c.onAuthChange((u) => seen.push(u));
      await c.login({ email, password: PASSWORD });
      await eventually(async () => c.realtimeStatus === 'open', 5000);
      const sid = claimsOf(await tokenOf(c)).sid as string;
      const other = sdk();
      await other.login({ email, password: PASSWORD });
      await other.revokeSession(sid);
      await eventually(async () => seen.at(-1) === null, 1000);
      assert.equal(other.isAuthenticated(), true);
    });
  });
}

/** A browser's cookie jar for the social redirects (each hop followed by hand). */
class CookieJar {
  readonly ip = `10.${rnd()}.${rnd()}.${rnd()}`;
  readonly cookies = new Map<string, string>();

  async get(target: string | URL): Promise<Response> {
    const headers: Record<string, string> = { 'x-forwarded-for': this.ip };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(target, { redirect: 'manual', headers, signal: AbortSignal.timeout(15_000) });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return res;
  }
}
