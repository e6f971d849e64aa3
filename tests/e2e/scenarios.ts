import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import { type Client, claimsOf, client, type Res, uniqueEmail } from './client.ts';

/** The settings every server under test runs with; the scenarios below rely on them. */
export const TEST_SERVER_ENV = {
  TRUST_PROXY: 'true',
  RATE_LIMIT_PER_IP_PER_MINUTE: '30',
  LOGIN_FAILURES_PER_ACCOUNT: '5',
  REFRESH_REUSE_INTERVAL: '2',
  // How recent a sign-in must be to change sign-in methods: short, so a test can outwait it.
  RECENT_SIGN_IN_SECONDS: '8',
  LOG_LEVEL: 'warn',
};

const PASSWORD = 'correct horse battery';

function isError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
  assert.equal(typeof res.body.message, 'string');
}

async function register(c: Client, email = uniqueEmail(), password = PASSWORD) {
  const res = await c.post('/auth/register', { email, password, name: 'Ada' });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { email, access: res.body.access_token as string, refresh: res.body.refresh_token as string, res };
}

async function login(c: Client, email: string, password = PASSWORD) {
  const res = await c.post('/auth/login', { email, password });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { access: res.body.access_token as string, refresh: res.body.refresh_token as string, res };
}

/**
 * The HTTP contract's sign-up, sign-in and account behaviour, run against a
 * server started by `url()` (the embedded mode and the stack).
 */
export function authScenarios(name: string, url: () => string): void {
  describe(`${name}: sign-up and sign-in`, () => {
    test('register answers 201 with tokens and the user, email stored lower case', async () => {
      const c = client(url());
      const email = uniqueEmail('Mixed').replace('mixed', 'MiXeD');
      const { res } = await register(c, `  ${email} `);
      const user = res.body.user as Record<string, unknown>;
      assert.equal(res.body.token_type, 'Bearer');
      assert.equal(res.body.expires_in, 900);
      assert.equal(user.email, email.toLowerCase());
      assert.equal(user.role, 'user');
      assert.equal(user.email_verified, false);
      assert.equal(user.mfa_enabled, false);
      assert.deepEqual(Object.keys(user).sort(), [
        'avatar_url',
        'created_at',
        'email',
        'email_verified',
        'id',
        'metadata',
        'mfa_enabled',
        'name',
        'role',
        'updated_at',
      ]);
      const again = await c.post('/auth/register', { email: email.toUpperCase(), password: PASSWORD });
      isError(again, 409, 'email_taken');
    });

    test('the access token carries the contract claims and verifies against the JWKS', async () => {
      const c = client(url());
      const { access, res } = await register(c);
      const claims = claimsOf(access);
      assert.equal(claims.sub, (res.body.user as { id: string }).id);
      assert.deepEqual(claims.amr, ['pwd']);
      assert.equal(claims.role, 'user');
      assert.equal((claims.exp as number) - (claims.iat as number), 900);
      for (const k of ['iss', 'aud', 'sid', 'auth_time']) assert.ok(claims[k], k);
      const [h, p, s] = access.split('.') as [string, string, string];
      const header = JSON.parse(Buffer.from(h, 'base64url').toString());
      const jwks = await c.get('/.well-known/jwks.json');
      const jwk = (jwks.body.keys as { kid: string }[]).find((k) => k.kid === header.kid);
      assert.ok(jwk, 'the signing key is published');
      assert.equal(header.alg, 'ES256');
      const key = createPublicKey({ key: jwk as never, format: 'jwk' });
      assert.ok(
        verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url')),
      );
      const oidc = await c.get('/.well-known/openid-configuration');
      assert.equal(oidc.body.issuer, claims.iss);
      assert.match(String(oidc.body.jwks_uri), /\/\.well-known\/jwks\.json$/);
    });

    test('unknown email and wrong password get the same 401', async () => {
      const c = client(url());
      const { email } = await register(c);
      const wrong = await c.post('/auth/login', { email, password: 'not the password' });
      const unknown = await c.post('/auth/login', { email: uniqueEmail('nobody'), password: 'not the password' });
      isError(wrong, 401, 'invalid_credentials');
      assert.deepEqual(wrong.body, unknown.body);
      assert.equal(wrong.status, unknown.status);
    });

    test('login is case-insensitive and opens a new session', async () => {
      const c = client(url());
      const { email, access } = await register(c);
      const second = await login(c, email.toUpperCase());
      assert.notEqual(claimsOf(second.access).sid, claimsOf(access).sid);
    });

    test('failed passwords lock the account for that client with 429 and Retry-After, even for the right password', async () => {
      const { email } = await register(client(url()));
      const guesser = client(url());
      for (let i = 0; i < 5; i++) {
        isError(await guesser.post('/auth/login', { email, password: 'wrong password' }), 401, 'invalid_credentials');
      }
      const locked = await guesser.post('/auth/login', { email, password: PASSWORD });
      isError(locked, 429, 'rate_limited');
      assert.ok(Number(locked.headers.get('retry-after')) > 0);
      // The lock is the guesser's (this account from this address): the owner elsewhere signs in.
      assert.equal((await client(url()).post('/auth/login', { email, password: PASSWORD })).status, 200);
      // Unknown accounts lock the same way: the limit reveals nothing.
      const ghost = uniqueEmail('ghost');
      for (let i = 0; i < 5; i++) await guesser.post('/auth/login', { email: ghost, password: 'wrong password' });
      isError(await guesser.post('/auth/login', { email: ghost, password: 'wrong password' }), 429, 'rate_limited');
    });

    test('one address is limited per minute on the sign-in endpoints', async () => {
      const c = client(url());
      let last: Res | undefined;
      for (let i = 0; i < 31; i++) last = await c.post('/auth/login', { email: uniqueEmail(), password: 'whatever1' });
      isError(last as Res, 429, 'rate_limited');
      assert.ok(Number(last?.headers.get('retry-after')) > 0);
      isError(await c.post('/auth/guest', {}), 429, 'rate_limited');
    });

    test('bad input gets the contract error body', async () => {
      const c = client(url());
      isError(await c.raw('POST', '/auth/login', '{"email":'), 400, 'invalid_json');
      isError(await c.post('/auth/register', { email: 'a@b.co', password: 'short' }), 400, 'validation_failed');
      isError(await c.post('/auth/register', { email: 'a@b.co', password: 'x'.repeat(129) }), 400, 'validation_failed');
      isError(
        await c.post('/auth/register', { email: 'a@b.co', password: 'p'.repeat(70_000) }),
        413,
        'payload_too_large',
      );
      isError(await c.post('/auth/register', { email: 'not-an-email', password: PASSWORD }), 400, 'validation_failed');
    });
  });

  describe(`${name}: sessions and revocation`, () => {
    test('GET /auth/session describes the session from the token', async () => {
      const c = client(url());
      const { access, res } = await register(c);
      const s = await c.get('/auth/session', access);
      assert.equal(s.status, 200);
      const session = s.body.session as Record<string, unknown>;
      assert.equal(session.id, claimsOf(access).sid);
      assert.equal(session.user_id, (res.body.user as { id: string }).id);
      assert.equal(session.role, 'user');
      assert.deepEqual(session.amr, ['pwd']);
      assert.ok(Date.parse(String(session.expires_at)) > Date.now());
      isError(await c.get('/auth/session'), 401, 'unauthorized');
      isError(await c.get('/auth/session', `${access}x`), 401, 'unauthorized');
    });

    test('refresh rotates; a repeat within the grace window works; a replay after it revokes the session', async () => {
      const c = client(url());
      const first = await register(c);
      const r1 = await c.post('/auth/refresh', { refresh_token: first.refresh });
      assert.equal(r1.status, 200, JSON.stringify(r1.body));
      assert.notEqual(r1.body.refresh_token, first.refresh);
      assert.equal(claimsOf(r1.body.access_token as string).sid, claimsOf(first.access).sid);
      assert.equal((r1.body.user as { email: string }).email, first.email);
      // A second tab presents the same, just-rotated token: still fine.
      const tab2 = await c.post('/auth/refresh', { refresh_token: first.refresh });
      assert.equal(tab2.status, 200, JSON.stringify(tab2.body));
      await new Promise((r) => setTimeout(r, 2600));
      // Past the 2 s window (REFRESH_REUSE_INTERVAL): theft. The whole session dies.
      isError(await c.post('/auth/refresh', { refresh_token: first.refresh }), 401, 'invalid_grant');
      isError(await c.post('/auth/refresh', { refresh_token: r1.body.refresh_token }), 401, 'invalid_grant');
      isError(await c.get('/auth/session', r1.body.access_token as string), 401, 'unauthorized');
      isError(await c.get('/auth/me', first.access), 401, 'unauthorized');
    });

    test('two refreshes of one token within the grace window get the same refresh token: one chain only', async () => {
      const c = client(url());
      const first = await register(c);
      const tab1 = await c.post('/auth/refresh', { refresh_token: first.refresh });
      const tab2 = await c.post('/auth/refresh', { refresh_token: first.refresh });
      assert.equal(tab1.status, 200, JSON.stringify(tab1.body));
      assert.equal(tab2.status, 200, JSON.stringify(tab2.body));
      assert.notEqual(tab1.body.refresh_token, first.refresh);
      assert.equal(tab2.body.refresh_token, tab1.body.refresh_token);
      assert.equal(claimsOf(tab2.body.access_token as string).sid, claimsOf(first.access).sid);
      await new Promise((r) => setTimeout(r, 2600));
      // Past the 2 s window (REFRESH_REUSE_INTERVAL): the one chain keeps rotating...
      const r2 = await c.post('/auth/refresh', { refresh_token: tab1.body.refresh_token });
      assert.equal(r2.status, 200, JSON.stringify(r2.body));
      assert.notEqual(r2.body.refresh_token, tab1.body.refresh_token);
      const r3 = await c.post('/auth/refresh', { refresh_token: r2.body.refresh_token });
      assert.equal(r3.status, 200, JSON.stringify(r3.body));
      // ...and there is no other: the second tab's token (the same one) is answered with its head.
      const again = await c.post('/auth/refresh', { refresh_token: tab2.body.refresh_token });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.refresh_token, r3.body.refresh_token);
      // The first token again: reuse. The session ends, its one chain with it.
      isError(await c.post('/auth/refresh', { refresh_token: first.refresh }), 401, 'invalid_grant');
      isError(await c.post('/auth/refresh', { refresh_token: r3.body.refresh_token }), 401, 'invalid_grant');
      isError(await c.get('/auth/session', r3.body.access_token as string), 401, 'unauthorized');
    });

    test('an unknown refresh token is invalid_grant', async () => {
      isError(await client(url()).post('/auth/refresh', { refresh_token: 'nope' }), 401, 'invalid_grant');
    });

    test('logout revokes the session: its access and refresh tokens are refused at once', async () => {
      const c = client(url());
      const { access, refresh } = await register(c);
      assert.equal((await c.post('/auth/logout', undefined, access)).status, 204);
      isError(await c.get('/auth/session', access), 401, 'unauthorized');
      isError(await c.get('/auth/me', access), 401, 'unauthorized');
      isError(await c.post('/auth/refresh', { refresh_token: refresh }), 401, 'invalid_grant');
      isError(await c.post('/auth/logout', undefined, access), 401, 'unauthorized');
    });

    test('logout-all revokes every session of the user', async () => {
      const c = client(url());
      const { email, access } = await register(c);
      const other = await login(c, email);
      const res = await c.post('/auth/logout-all', undefined, access);
      assert.equal(res.status, 200);
      assert.equal(res.body.sessions_revoked, 2);
      isError(await c.get('/auth/session', access), 401, 'unauthorized');
      isError(await c.get('/auth/session', other.access), 401, 'unauthorized');
    });

    test('sessions are listed with the current one marked, and one can be revoked', async () => {
      const c = client(url());
      const { email, access } = await register(c);
      const other = await login(c, email);
      const list = await c.get('/auth/sessions', access);
      assert.equal(list.status, 200);
      const sessions = list.body.sessions as { id: string; current: boolean; ip: string; amr: string[] }[];
      assert.equal(sessions.length, 2);
      assert.deepEqual(
        sessions.filter((s) => s.current).map((s) => s.id),
        [claimsOf(access).sid],
      );
      assert.equal(sessions[0]?.ip, c.ip);
      const otherSid = claimsOf(other.access).sid as string;
      assert.equal((await c.del(`/auth/sessions/${otherSid}`, access)).status, 204);
      isError(await c.get('/auth/session', other.access), 401, 'unauthorized');
      assert.equal((await c.get('/auth/session', access)).status, 200);
      isError(await c.del(`/auth/sessions/${otherSid}`, access), 404, 'not_found');
      isError(await c.del('/auth/sessions/not-a-uuid', access), 404, 'not_found');
      // Another user's session is not yours to see or end.
      const stranger = await register(client(url()));
      isError(await c.del(`/auth/sessions/${claimsOf(stranger.access).sid}`, access), 404, 'not_found');
      assert.equal((await c.get('/auth/session', stranger.access)).status, 200);
    });
  });

  describe(`${name}: account`, () => {
    test('me can be read and updated; metadata merges', async () => {
      const c = client(url());
      const { access } = await register(c);
      const me = await c.get('/auth/me', access);
      assert.equal(me.body.name, 'Ada');
      const patched = await c.patch('/auth/me', { name: 'Grace', metadata: { theme: 'dark', lang: 'en' } }, access);
      assert.equal(patched.status, 200);
      assert.equal(patched.body.name, 'Grace');
      const again = await c.patch(
        '/auth/me',
        { metadata: { lang: 'fr' }, avatar_url: 'https://img.example/a.png' },
        access,
      );
      assert.deepEqual(again.body.metadata, { theme: 'dark', lang: 'fr' });
      assert.equal(again.body.avatar_url, 'https://img.example/a.png');
      isError(await c.patch('/auth/me', { name: 42 }, access), 400, 'validation_failed');
    });

    test('a password change revokes every other session and swaps the password', async () => {
      const c = client(url());
      const { email, access } = await register(c);
      const other = await login(c, email);
      const wrong = await c.post(
        '/auth/password/change',
        { current_password: 'nope nope', new_password: 'new password 1' },
        access,
      );
      isError(wrong, 401, 'invalid_credentials');
      const ok = await c.post(
        '/auth/password/change',
        { current_password: PASSWORD, new_password: 'new password 1' },
        access,
      );
      assert.equal(ok.status, 204);
      isError(await c.get('/auth/session', other.access), 401, 'unauthorized');
      assert.equal((await c.get('/auth/session', access)).status, 200);
      isError(await c.post('/auth/login', { email, password: PASSWORD }), 401, 'invalid_credentials');
      await login(c, email, 'new password 1');
    });

    test('deleting the account needs the password, then revokes everything', async () => {
      const c = client(url());
      const { email, access } = await register(c);
      isError(await c.del('/auth/me', access, { password: 'wrong password' }), 401, 'invalid_credentials');
      assert.equal((await c.del('/auth/me', access, { password: PASSWORD })).status, 204);
      isError(await c.get('/auth/me', access), 401, 'unauthorized');
      isError(await c.post('/auth/login', { email, password: PASSWORD }), 401, 'invalid_credentials');
    });

    test('a guest signs in with nothing, converts to a user with the same id', async () => {
      const c = client(url());
      const guest = await c.post('/auth/guest', {});
      assert.equal(guest.status, 201, JSON.stringify(guest.body));
      const user = guest.body.user as { id: string; role: string; email: unknown };
      assert.equal(user.role, 'guest');
      assert.equal(user.email, null);
      const access = guest.body.access_token as string;
      const email = uniqueEmail('convert');
      const converted = await c.post('/auth/guest/convert', { email, password: PASSWORD }, access);
      assert.equal(converted.status, 200, JSON.stringify(converted.body));
      assert.equal((converted.body.user as { id: string }).id, user.id);
      assert.equal((converted.body.user as { role: string }).role, 'user');
      isError(await c.get('/auth/session', access), 401, 'unauthorized');
      const token = converted.body.access_token as string;
      isError(
        await c.post('/auth/guest/convert', { email: uniqueEmail(), password: PASSWORD }, token),
        403,
        'forbidden',
      );
      await login(c, email);
      const other = await c.post('/auth/guest', {});
      isError(
        await c.post('/auth/guest/convert', { email, password: PASSWORD }, other.body.access_token as string),
        409,
        'email_taken',
      );
    });

    test('a guest can delete its account right after signing in, with no password', async () => {
      const c = client(url());
      const guest = await c.post('/auth/guest', {});
      assert.equal((await c.del('/auth/me', guest.body.access_token as string)).status, 204);
    });
  });

  describe(`${name}: cookie mode`, () => {
    test('cookies carry the tokens; state changes need an allowed Origin or the CSRF token; logout clears them', async () => {
      const base = url();
      const c = client(base);
      const origin = new URL(String((await c.get('/.well-known/openid-configuration')).body.issuer)).origin;
      const send = (
        method: string,
        path: string,
        cookies: string,
        headers: Record<string, string> = {},
        body?: unknown,
      ) =>
        fetch(base + path, {
          method,
          headers: {
            cookie: cookies,
            'x-forwarded-for': c.ip,
            ...(body ? { 'content-type': 'application/json' } : {}),
            ...headers,
          },
          body: body ? JSON.stringify(body) : undefined,
        });
      const reg = await fetch(`${base}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': c.ip },
        body: JSON.stringify({ email: uniqueEmail('cookie'), password: PASSWORD, auth_mode: 'cookie' }),
      });
      assert.equal(reg.status, 201);
      const body = (await reg.json()) as Record<string, unknown>;
      assert.equal(body.access_token, undefined, 'tokens stay out of the body');
      assert.equal(body.refresh_token, undefined);
      const setCookies = reg.headers.getSetCookie();
      const access = setCookies.find((h) => h.startsWith('gh_access='));
      const refresh = setCookies.find((h) => h.startsWith('gh_refresh='));
      assert.match(access ?? '', /HttpOnly/);
      assert.match(access ?? '', /SameSite=Lax/);
      assert.match(refresh ?? '', /Path=\/auth\/refresh/);
      const jar = (list: string[]) => list.map((h) => h.split(';')[0]).join('; ');
      let cookies = jar(setCookies);
      assert.equal((await send('GET', '/auth/me', cookies)).status, 200);
      // The CSRF token: readable by the page (not HttpOnly), same-site only.
      const csrfCookie = setCookies.find((h) => h.startsWith('gh_csrf=')) ?? '';
      assert.doesNotMatch(csrfCookie, /HttpOnly/);
      assert.match(csrfCookie, /SameSite=Strict/);
      const csrf = csrfCookie.split(';')[0]?.split('=')[1] ?? '';
      // A state change with the cookie but from a foreign page (even with the token), or with
      // neither an Origin nor the token, is refused; the token alone passes where no Origin is sent.
      assert.equal((await send('POST', '/auth/logout', cookies, { origin: 'https://evil.example' })).status, 403);
      assert.equal(
        (await send('POST', '/auth/logout', cookies, { origin: 'https://evil.example', 'x-csrf-token': csrf })).status,
        403,
      );
      assert.equal((await send('POST', '/auth/logout', cookies)).status, 403);
      assert.equal((await send('POST', '/auth/logout', cookies, { 'x-csrf-token': 'A'.repeat(43) })).status, 403);
      assert.equal(
        (await send('PATCH', '/auth/me', cookies, { 'x-csrf-token': csrf }, { name: 'By token' })).status,
        200,
      );
      const refreshed = await send('POST', '/auth/refresh', cookies, { 'x-csrf-token': csrf }, {});
      assert.equal(refreshed.status, 200);
      const rotated = refreshed.headers.getSetCookie();
      assert.ok(rotated.some((h) => h.startsWith('gh_refresh=')) && rotated.some((h) => h.startsWith('gh_access=')));
      assert.ok(
        rotated.some((h) => h.startsWith(`gh_csrf=${csrf};`)),
        'a refresh keeps the token',
      );
      cookies = jar(rotated);
      const out = await send('POST', '/auth/logout', cookies, { origin });
      assert.equal(out.status, 204);
      for (const name of ['gh_access', 'gh_refresh', 'gh_csrf']) {
        assert.ok(
          out.headers.getSetCookie().some((h) => h.startsWith(`${name}=;`) && /Max-Age=0/.test(h)),
          `${name} is cleared`,
        );
      }
      assert.equal((await send('GET', '/auth/me', cookies)).status, 401);
    });
  });

  describe(`${name}: operations`, () => {
    test('health, readiness, OpenAPI and docs answer', async () => {
      const c = client(url());
      assert.equal((await c.get('/healthz')).status, 200);
      assert.equal((await c.get('/readyz')).status, 200);
      const doc = await c.get('/openapi.json');
      assert.equal(doc.body.openapi, '3.1.0');
      const page = await fetch(`${url()}/docs/`);
      assert.equal(page.status, 200);
    });
  });
}
