import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID, type UserRecord } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import {
  cookiesOf,
  type StandInGateway,
  type StandIns,
  sessionCheck,
  TEST_PUBLIC_URL,
  USER_FIELDS,
  userRecord,
  withGateway,
} from '../app.test-support.ts';

// POST /auth/refresh against stand-in session and identity services: the session service rotates
// the refresh token, identity says whether the account may still sign in, and a session whose
// account is gone or banned is revoked, here at once.

const REFRESH = 'rt-presented';
const CLIENT = { ip: '192.0.2.12', user_agent: 'refresh-test/1.0' };
const APP_ORIGIN = 'https://app.example';

interface Setup {
  /** What identity answers for the session's user: a user, or an error. */
  user: UserRecord | AppError;
  sessionId: string;
}

/** session rotates REFRESH (anything else is invalid_grant) for `setup`'s session; identity answers `setup.user`. */
function services(setup: Setup): StandIns {
  const userId = setup.user instanceof AppError ? randomUUID() : setup.user.id;
  return {
    'session.session.refresh': async (m) => {
      if (m.refresh_token !== REFRESH) throw new AppError('invalid_grant', 'the refresh token is not valid');
      return {
        access_token: 'at-rotated',
        expires_in: 900,
        refresh_token: 'rt-rotated',
        session_id: setup.sessionId,
        user_id: userId,
        project_id: DEFAULT_PROJECT_ID,
      };
    },
    'identity.user.get': async () => {
      if (setup.user instanceof AppError) throw setup.user;
      return { user: setup.user };
    },
  };
}

/** The gateway before `setup`'s services, with one page origin (APP_ORIGIN) allowed besides PUBLIC_URL's. */
const withRefresh = (setup: Setup, run: (gw: StandInGateway) => Promise<void>) =>
  withGateway(services(setup), run, { CORS_ORIGINS: APP_ORIGIN });

const refresh = (gw: StandInGateway, payload: object, headers: Record<string, string> = {}) =>
  gw.app.inject({
    method: 'POST',
    url: '/auth/refresh',
    payload,
    remoteAddress: CLIENT.ip,
    headers: { 'user-agent': CLIENT.user_agent, ...headers },
  });

describe('POST /auth/refresh', () => {
  test('a refresh token in the body: rotated by the session service, answered with the user identity has', async () => {
    const user = userRecord('r@example.com');
    await withRefresh({ user, sessionId: randomUUID() }, async (gw) => {
      const res = await refresh(gw, { refresh_token: REFRESH }, { 'x-request-id': 'trace-refresh-1' });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(
        gw.calls.map((c) => [c.subject, c.requestId, c.data]),
        [
          [
            'session.session.refresh',
            'trace-refresh-1',
            { ...CLIENT, refresh_token: REFRESH, project_id: DEFAULT_PROJECT_ID },
          ],
          ['identity.user.get', 'trace-refresh-1', { project_id: DEFAULT_PROJECT_ID, user_id: user.id }],
        ],
      );
      const body = res.json();
      assert.equal(body.access_token, 'at-rotated');
      assert.equal(body.refresh_token, 'rt-rotated');
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.user.id, user.id);
      assert.deepEqual(Object.keys(body.user).sort(), USER_FIELDS);
    });
  });

  test('the account comes from the profile cache while no event said it changed; a ban, once its event drops it, ends the session', async () => {
    const setup: Setup = { user: userRecord('cached@example.com'), sessionId: randomUUID() };
    await withRefresh(setup, async (gw) => {
      for (let i = 0; i < 3; i++) assert.equal((await refresh(gw, { refresh_token: REFRESH })).statusCode, 200);
      assert.equal(gw.callsTo('identity.user.get').length, 1, 'identity asked once, the cache after');
      const user = setup.user as UserRecord;
      setup.user = { ...user, banned: true };
      gw.profiles.dropUser(user.id); // what events.user.updated does on every gateway
      const res = await refresh(gw, { refresh_token: REFRESH });
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(res.json().error, 'invalid_grant');
      assert.equal(gw.callsTo('identity.user.get').length, 2);
      assert.equal(gw.callsTo('session.session.revoke').length, 1);
    });
  });

  for (const [what, user] of [
    ['deleted (not_found)', new AppError('not_found', 'no such user')],
    ['banned', userRecord('banned@example.com', { banned: true })],
  ] as const) {
    test(`a ${what} user: the session is revoked (refresh_denied), its token refused at once, 401 invalid_grant`, async () => {
      const sessionId = randomUUID();
      await withRefresh({ user, sessionId }, async (gw) => {
        const token = await gw.sign({ sub: randomUUID(), sid: sessionId });
        assert.equal(await sessionCheck(gw.app, token), 200);
        const res = await refresh(gw, { refresh_token: REFRESH });
        assert.equal(res.statusCode, 401, res.body);
        assert.equal(res.json().error, 'invalid_grant');
        assert.equal(res.json().access_token, undefined);
        const revokes = gw.callsTo('session.session.revoke') as { user_id: string }[];
        assert.deepEqual(
          revokes.map(({ user_id: _, ...call }) => call),
          [{ session_id: sessionId, reason: 'refresh_denied' }],
        );
        // Named as the refresh's owner (the session store finds sessions by their user).
        if (!(user instanceof AppError)) assert.equal(revokes[0]?.user_id, user.id);
        else assert.equal(typeof revokes[0]?.user_id, 'string');
        assert.equal(await sessionCheck(gw.app, token), 401);
      });
    });
  }

  test('identity down: 503, and the session is not revoked for an outage', async () => {
    const sessionId = randomUUID();
    const down = new AppError('service_unavailable', 'identity is down');
    await withRefresh({ user: down, sessionId }, async (gw) => {
      const token = await gw.sign({ sub: randomUUID(), sid: sessionId });
      const res = await refresh(gw, { refresh_token: REFRESH });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(gw.callsTo('session.session.revoke').length, 0);
      assert.equal(await sessionCheck(gw.app, token), 200);
    });
  });

  test("the session service's invalid_grant is the answer (401), identity is not asked", async () => {
    await withRefresh({ user: userRecord('r@example.com'), sessionId: randomUUID() }, async (gw) => {
      const res = await refresh(gw, { refresh_token: 'rt-retired' });
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(res.json().error, 'invalid_grant');
      assert.deepEqual(
        gw.calls.map((c) => c.subject),
        ['session.session.refresh'],
      );
    });
  });

  test('no refresh token in the body nor a cookie: 401 invalid_grant, no call', async () => {
    await withRefresh({ user: userRecord('r@example.com'), sessionId: randomUUID() }, async (gw) => {
      const res = await refresh(gw, {}, { origin: TEST_PUBLIC_URL });
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(res.json().error, 'invalid_grant');
      assert.deepEqual(gw.calls, []);
    });
  });

  describe('cookie mode (the gh_refresh cookie)', () => {
    const user = userRecord('c@example.com');

    test('from an allowed page the cookie is the token, and both cookies are rotated (tokens not in the body)', async () => {
      await withRefresh({ user, sessionId: randomUUID() }, async (gw) => {
        const allowed: Record<string, string>[] = [
          { origin: TEST_PUBLIC_URL },
          { origin: APP_ORIGIN },
          { referer: `${APP_ORIGIN}/account?x=1` },
        ];
        for (const headers of allowed) {
          const res = await refresh(gw, {}, { cookie: `gh_refresh=${REFRESH}`, ...headers });
          assert.equal(res.statusCode, 200, `${JSON.stringify(headers)}: ${res.body}`);
          assert.deepEqual(Object.keys(res.json()).sort(), ['expires_in', 'token_type', 'user']);
          const { gh_access, gh_refresh } = cookiesOf(res);
          assert.ok(gh_access && gh_refresh, String(res.headers['set-cookie']));
          assert.ok(gh_access.startsWith('gh_access=at-rotated;'));
          assert.ok(gh_refresh.startsWith('gh_refresh=rt-rotated;'));
          assert.match(gh_refresh, /; Path=\/auth\/refresh(;|$)/);
          assert.match(gh_refresh, /; HttpOnly/);
        }
        assert.deepEqual(
          gw.callsTo('session.session.refresh').map((m) => m.refresh_token),
          [REFRESH, REFRESH, REFRESH],
        );
      });
    });

    test('from another origin, or with no Origin nor Referer, 403 forbidden before the session service', async () => {
      await withRefresh({ user, sessionId: randomUUID() }, async (gw) => {
        const refused: Record<string, string>[] = [
          { origin: 'https://evil.example' },
          { referer: 'https://evil.example/page' },
          {},
        ];
        for (const headers of refused) {
          const res = await refresh(gw, {}, { cookie: `gh_refresh=${REFRESH}`, ...headers });
          assert.equal(res.statusCode, 403, JSON.stringify(headers));
          assert.equal(res.json().error, 'forbidden');
          assert.deepEqual(cookiesOf(res), {});
        }
        assert.deepEqual(gw.calls, []);
      });
    });

    test('a refresh token in the body is not ambient authority: no Origin needed, and token mode unless asked', async () => {
      await withRefresh({ user, sessionId: randomUUID() }, async (gw) => {
        const res = await refresh(gw, { refresh_token: REFRESH }, { cookie: 'gh_refresh=rt-other' });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().refresh_token, 'rt-rotated');
        assert.deepEqual(cookiesOf(res), {});
        assert.deepEqual(
          gw.callsTo('session.session.refresh').map((m) => m.refresh_token),
          [REFRESH],
          'the body wins over the cookie',
        );
      });
    });
  });
});
