// Cookie mode's CSRF defence over inject(), with stand-in services: the double-submit token
// (the readable gh_csrf cookie echoed in X-CSRF-Token) beside the Origin allow-list, so a
// request with no Origin is still protected; logout clears every session cookie; CORS lets the
// allowed origins send the header with credentials.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  cookiesOf,
  type StandInGateway,
  type StandIns,
  TEST_PUBLIC_URL,
  userRecord,
  withGateway,
} from '../app.test-support.ts';

const PASSWORD = 'correct horse battery';
const APP = 'https://app.example';
const services: StandIns = {
  'identity.user.register': async (m) => ({ user: userRecord(m.email) }),
  'identity.user.get': async (m) => ({ user: userRecord('someone@example.com', { id: m.user_id }) }),
  'session.session.refresh': async () => ({
    access_token: 'refreshed-access',
    expires_in: 900,
    refresh_token: 'refreshed-refresh',
    session_id: '01a24230-1f41-73f8-8450-da943dc78caf',
    user_id: '01a24230-1f41-73f8-8450-da943dc78cb0',
    project_id: '00000000-0000-7000-8000-000000000001',
  }),
};

/** A cookie-mode sign-up: the cookies it set, as `name=value`, and the CSRF token. */
async function signUp(gw: StandInGateway) {
  const res = await gw.app.inject({
    method: 'POST',
    url: '/auth/register',
    headers: { origin: TEST_PUBLIC_URL },
    payload: { email: `c${Math.random()}@example.com`, password: PASSWORD, auth_mode: 'cookie' },
  });
  assert.equal(res.statusCode, 201, res.body);
  const set = cookiesOf(res);
  const value = (name: string) => (set[name] ?? '').split(';')[0]?.split('=')[1] ?? '';
  return { set, access: value('gh_access'), csrf: value('gh_csrf') };
}

const logout = (gw: StandInGateway, cookie: string, headers: Record<string, string>) =>
  gw.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie, ...headers } });

describe('cookie mode CSRF', () => {
  test('a sign-in sets a readable, same-site-only CSRF cookie next to the HttpOnly tokens', async () => {
    await withGateway(services, async (gw) => {
      const { set, csrf } = await signUp(gw);
      assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
      const line = set.gh_csrf ?? '';
      assert.doesNotMatch(line, /HttpOnly/, 'the page script must read it');
      assert.match(line, /; SameSite=Strict/);
      assert.match(line, /; Path=\/(;|$)/);
      assert.match(set.gh_access ?? '', /; HttpOnly/);
      const again = await signUp(gw);
      assert.notEqual(again.csrf, csrf, 'every sign-in makes a new token');
    });
  });

  test('over https the cookie is __Host-gh_csrf, Secure', async () => {
    await withGateway(
      services,
      async (gw) => {
        const res = await gw.app.inject({
          method: 'POST',
          url: '/auth/register',
          headers: { origin: 'https://auth.example' },
          payload: { email: 'h@example.com', password: PASSWORD, auth_mode: 'cookie' },
        });
        const line = cookiesOf(res)['__Host-gh_csrf'] ?? '';
        assert.match(line, /; Secure/);
        assert.match(line, /; Path=\/(;|$)/);
        assert.doesNotMatch(line, /Domain=/);
      },
      { PUBLIC_URL: 'https://auth.example' },
    );
  });

  test('a state change passes with an allowed Origin or the matching token; refused otherwise', async () => {
    await withGateway(services, async (gw) => {
      const cases: [string, (s: { access: string; csrf: string }) => [string, Record<string, string>], number][] = [
        ['allowed Origin, no token', (s) => [`gh_access=${s.access}`, { origin: TEST_PUBLIC_URL }], 204],
        ['no Origin, the token', (s) => [`gh_access=${s.access}; gh_csrf=${s.csrf}`, { 'x-csrf-token': s.csrf }], 204],
        ['no Origin, no token', (s) => [`gh_access=${s.access}; gh_csrf=${s.csrf}`, {}], 403],
        [
          'no Origin, a wrong token',
          // Its last character changed (to B when it was A: one token in 64 ends in A).
          (s) => [
            `gh_access=${s.access}; gh_csrf=${s.csrf}`,
            { 'x-csrf-token': `${s.csrf.slice(0, -1)}${s.csrf.endsWith('A') ? 'B' : 'A'}` },
          ],
          403,
        ],
        ['no Origin, a token but no cookie', (s) => [`gh_access=${s.access}`, { 'x-csrf-token': s.csrf }], 403],
        [
          'a foreign Origin, even with the token',
          (s) => [
            `gh_access=${s.access}; gh_csrf=${s.csrf}`,
            { origin: 'https://evil.example', 'x-csrf-token': s.csrf },
          ],
          403,
        ],
        [
          'a foreign Referer and no Origin',
          (s) => [`gh_access=${s.access}; gh_csrf=${s.csrf}`, { referer: 'https://evil.example/page' }],
          403,
        ],
      ];
      for (const [what, make, status] of cases) {
        const session = await signUp(gw);
        const [cookie, headers] = make(session);
        const res = await logout(gw, cookie, headers);
        assert.equal(res.statusCode, status, `${what}: ${res.body}`);
        if (status === 403) assert.equal(res.json().error, 'forbidden', what);
      }
      // A bearer token needs neither: no browser sends it by itself.
      const bearer = await gw.sign({ sub: crypto.randomUUID(), sid: crypto.randomUUID() });
      const res = await gw.app.inject({
        method: 'POST',
        url: '/auth/logout',
        headers: { authorization: `Bearer ${bearer}` },
      });
      assert.equal(res.statusCode, 204);
    });
  });

  test('a cookie refresh passes on the token alone and keeps it; logout clears every session cookie', async () => {
    await withGateway(services, async (gw) => {
      const { csrf, access } = await signUp(gw);
      const refused = await gw.app.inject({
        method: 'POST',
        url: '/auth/refresh',
        headers: { cookie: `gh_refresh=r; gh_csrf=${csrf}` },
        payload: {},
      });
      assert.equal(refused.statusCode, 403, 'no Origin and no token');
      const res = await gw.app.inject({
        method: 'POST',
        url: '/auth/refresh',
        headers: { cookie: `gh_refresh=r; gh_csrf=${csrf}`, 'x-csrf-token': csrf },
        payload: {},
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(cookiesOf(res).gh_csrf ?? '', new RegExp(`^gh_csrf=${csrf};`), 'the same token goes on');

      const out = await logout(gw, `gh_access=${access}`, { origin: TEST_PUBLIC_URL });
      assert.equal(out.statusCode, 204);
      const cleared = cookiesOf(out);
      for (const name of ['gh_access', 'gh_refresh', 'gh_csrf', 'gh_oauth']) {
        assert.match(cleared[name] ?? '', /; Max-Age=0(;|$)/, name);
      }
    });
  });

  test('CORS: an allowed origin may send X-CSRF-Token with credentials; another origin gets no grant', async () => {
    await withGateway(
      services,
      async (gw) => {
        const preflight = (origin: string) =>
          gw.app.inject({
            method: 'OPTIONS',
            url: '/auth/logout',
            headers: {
              origin,
              'access-control-request-method': 'POST',
              'access-control-request-headers': 'x-csrf-token,content-type',
            },
          });
        const ok = await preflight(APP);
        assert.equal(ok.headers['access-control-allow-origin'], APP);
        assert.equal(ok.headers['access-control-allow-credentials'], 'true');
        assert.match(String(ok.headers['access-control-allow-headers']), /x-csrf-token/);
        const other = await preflight('https://evil.example');
        assert.equal(other.headers['access-control-allow-origin'], undefined);
      },
      { CORS_ORIGINS: APP },
    );
  });
});
