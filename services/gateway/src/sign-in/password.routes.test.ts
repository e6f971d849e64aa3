import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import {
  cookiesOf,
  type StandInGateway,
  type StandIns,
  sessionCheck,
  USER_FIELDS,
  userRecord,
  withGateway,
} from '../app.test-support.ts';

// POST /auth/register and /auth/login against stand-in identity, session and mfa services: what
// the plugin sends each of them, and how it turns their answers into the HTTP answer.

const PASSWORD = 'correct horse battery';
const CLIENT = { ip: '192.0.2.7', user_agent: 'password-test/1.0' };

const post = (gw: StandInGateway, url: string, payload: object, headers: Record<string, string> = {}) =>
  gw.app.inject({
    method: 'POST',
    url,
    payload,
    remoteAddress: CLIENT.ip,
    headers: { 'user-agent': CLIENT.user_agent, ...headers },
  });

describe('POST /auth/register', () => {
  const identity: StandIns = { 'identity.user.register': async (m) => ({ user: userRecord(m.email) }) };

  test('201 TokenResponse for the new user; identity gets the project and the fields, the session amr ["pwd"]', async () => {
    await withGateway(identity, async (gw) => {
      const res = await post(gw, '/auth/register', { email: 'new@example.com', password: PASSWORD });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.deepEqual(gw.callsTo('identity.user.register'), [
        { project_id: DEFAULT_PROJECT_ID, email: 'new@example.com', password: PASSWORD },
      ]);
      const [registered] = gw.answersOf('identity.user.register');
      assert.ok(registered);
      assert.deepEqual(gw.callsTo('session.session.create'), [
        { ...CLIENT, amr: ['pwd'], role: 'user', project_id: DEFAULT_PROJECT_ID, user_id: registered.user.id },
      ]);
      const [session] = gw.answersOf('session.session.create');
      assert.ok(session);
      assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type', 'user']);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.expires_in, 900);
      assert.equal(body.access_token, session.access_token);
      assert.equal(body.refresh_token, session.refresh_token);
      assert.equal(body.user.id, registered.user.id);
      assert.deepEqual(Object.keys(body.user).sort(), USER_FIELDS, 'the public User: no project, ban or password flag');
      assert.equal(await sessionCheck(gw.app, body.access_token), 200);
      assert.equal(cookiesOf(res).gh_access, undefined, 'token mode sets no session cookie');
    });
  });

  test('name and metadata reach identity when given; nothing else of the body does', async () => {
    await withGateway(identity, async (gw) => {
      const res = await post(gw, '/auth/register', {
        email: 'named@example.com',
        password: PASSWORD,
        name: 'Ada',
        metadata: { plan: 'pro' },
        auth_mode: 'token',
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(gw.callsTo('identity.user.register'), [
        {
          project_id: DEFAULT_PROJECT_ID,
          email: 'named@example.com',
          password: PASSWORD,
          name: 'Ada',
          metadata: { plan: 'pro' },
        },
      ]);
    });
  });

  test('redirect_to reaches identity only when REDIRECT_ALLOWLIST allows it, else 400 invalid_redirect', async () => {
    await withGateway(
      identity,
      async (gw) => {
        const allowed = 'https://app.example/auth/verified?next=%2Fhome';
        const ok = await post(gw, '/auth/register', {
          email: 'a@example.com',
          password: PASSWORD,
          redirect_to: allowed,
        });
        assert.equal(ok.statusCode, 201, ok.body);
        assert.equal(gw.callsTo('identity.user.register')[0]?.redirect_to, allowed);

        for (const target of [
          'https://app.example/elsewhere',
          'https://app.example.evil.test/auth/x',
          'https://app.example@evil.test/auth/x',
          'javascript:alert(1)',
        ]) {
          const res = await post(gw, '/auth/register', {
            email: 'b@example.com',
            password: PASSWORD,
            redirect_to: target,
          });
          assert.equal(res.statusCode, 400, target);
          assert.equal(res.json().error, 'invalid_redirect');
          assert.deepEqual(
            res.json().details.map((d: { field: string }) => d.field),
            ['redirect_to'],
          );
        }
        assert.equal(gw.callsTo('identity.user.register').length, 1, 'a refused redirect reaches no service');
        assert.equal(gw.callsTo('session.session.create').length, 1);
      },
      { REDIRECT_ALLOWLIST: 'https://app.example/auth/' },
    );
  });

  test('cookie mode: HttpOnly SameSite=Lax cookies with the tokens, and no tokens in the body', async () => {
    await withGateway(identity, async (gw) => {
      const res = await post(gw, '/auth/register', { email: 'c@example.com', password: PASSWORD, auth_mode: 'cookie' });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.deepEqual(Object.keys(body).sort(), ['expires_in', 'token_type', 'user']);
      const [session] = gw.answersOf('session.session.create');
      assert.ok(session);
      const { gh_access, gh_refresh } = cookiesOf(res);
      assert.ok(gh_access && gh_refresh, String(res.headers['set-cookie']));
      assert.ok(gh_access.startsWith(`gh_access=${session.access_token};`));
      assert.ok(gh_refresh.startsWith(`gh_refresh=${session.refresh_token};`));
      for (const cookie of [gh_access, gh_refresh]) {
        assert.match(cookie, /; HttpOnly/);
        assert.match(cookie, /; SameSite=Lax/);
        assert.doesNotMatch(cookie, /; Secure/, 'PUBLIC_URL is http here');
      }
      assert.match(gh_access, /; Path=\/(;|$)/);
      assert.match(gh_access, /; Max-Age=900(;|$)/);
      assert.match(gh_refresh, /; Path=\/auth\/refresh(;|$)/);
      assert.match(gh_refresh, /; Max-Age=604800(;|$)/);
      // The cookie authenticates a read (no CSRF check for GET).
      const check = await gw.app.inject({
        method: 'GET',
        url: '/auth/session',
        headers: { cookie: `gh_access=${session.access_token}` },
      });
      assert.equal(check.statusCode, 200, check.body);
    });
  });

  test("identity's refusal is the answer (409 email_taken), and no session is opened", async () => {
    const taken: StandIns = {
      'identity.user.register': async () => {
        throw new AppError('email_taken', 'an account with this email exists');
      },
    };
    await withGateway(taken, async (gw) => {
      const res = await post(gw, '/auth/register', { email: 'taken@example.com', password: PASSWORD });
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().error, 'email_taken');
      assert.equal(gw.callsTo('session.session.create').length, 0);
    });
  });
});

describe('POST /auth/login', () => {
  const OWNER = 'owner@example.com';

  /** identity knows OWNER (with `fields`); mfa answers a challenge with `challenge`. */
  function services(fields: Parameters<typeof userRecord>[1], challenge?: StandIns['mfa.challenge.create']): StandIns {
    const user = userRecord(OWNER, fields);
    return {
      'identity.user.authenticate': async (m) => {
        if (m.email !== OWNER || m.password !== PASSWORD) {
          throw new AppError('invalid_credentials', 'wrong email or password');
        }
        return { user };
      },
      'mfa.challenge.create':
        challenge ?? (async () => ({ mfa_token: 'mfa-token-1', methods: ['totp', 'recovery_code'], expires_in: 300 })),
    };
  }
  const login = (gw: StandInGateway, extra: object = {}, headers: Record<string, string> = {}) =>
    post(gw, '/auth/login', { email: OWNER, password: PASSWORD, ...extra }, headers);
  const userOf = (gw: StandInGateway) => {
    const [authenticated] = gw.answersOf('identity.user.authenticate');
    assert.ok(authenticated, 'identity authenticated the user');
    return authenticated.user;
  };

  test('a user without a second factor gets tokens; the session has amr ["pwd"] and the user\'s role', async () => {
    await withGateway(services({ role: 'admin' }), async (gw) => {
      const res = await login(gw);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.deepEqual(gw.callsTo('identity.user.authenticate'), [
        { project_id: DEFAULT_PROJECT_ID, email: OWNER, password: PASSWORD },
      ]);
      assert.equal(gw.callsTo('mfa.challenge.create').length, 0, 'no second factor: no challenge asked for');
      assert.deepEqual(gw.callsTo('session.session.create'), [
        { ...CLIENT, amr: ['pwd'], role: 'admin', project_id: DEFAULT_PROJECT_ID, user_id: userOf(gw).id },
      ]);
      assert.equal(body.user.id, userOf(gw).id);
      assert.deepEqual(Object.keys(body.user).sort(), USER_FIELDS);
      assert.equal(await sessionCheck(gw.app, body.access_token), 200);
    });
  });

  test('a right password sets the device cookie gh_device, with tokens and with a challenge alike', async () => {
    for (const fields of [{}, { mfa_enabled: true }]) {
      await withGateway(services(fields), async (gw) => {
        const res = await login(gw);
        assert.equal(res.statusCode, 200, res.body);
        const device = cookiesOf(res).gh_device;
        assert.ok(device, `mfa_enabled ${fields.mfa_enabled ?? false}: ${String(res.headers['set-cookie'])}`);
        assert.match(device, /^gh_device=[A-Za-z0-9_-]{43};/);
        assert.match(device, /; Path=\/auth\/login(;|$)/);
        assert.match(device, /; HttpOnly/);
        // A wrong password sets none.
        const wrong = await login(gw, { password: 'not the password' });
        assert.equal(wrong.statusCode, 401);
        assert.equal(wrong.json().error, 'invalid_credentials');
        assert.deepEqual(cookiesOf(wrong), {});
      });
    }
  });

  test('a user with mfa_enabled gets the MfaChallenge from mfa.challenge.create, and no session', async () => {
    await withGateway(services({ mfa_enabled: true }), async (gw) => {
      const res = await login(gw, { auth_mode: 'cookie' });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), {
        mfa_required: true,
        mfa_token: 'mfa-token-1',
        methods: ['totp', 'recovery_code'],
      });
      assert.deepEqual(gw.callsTo('mfa.challenge.create'), [
        { project_id: DEFAULT_PROJECT_ID, user_id: userOf(gw).id, amr: ['pwd'] },
      ]);
      assert.equal(gw.callsTo('session.session.create').length, 0);
      const cookies = cookiesOf(res);
      assert.equal(cookies.gh_access, undefined, 'no session cookie before the second factor');
      assert.equal(cookies.gh_refresh, undefined);
    });
  });

  test('mfa_enabled set but mfa says there is no TOTP (invalid_challenge): tokens anyway, amr ["pwd"], and a warning', async () => {
    const stale = services({ mfa_enabled: true }, async () => {
      throw new AppError('invalid_challenge', 'the user has no second factor');
    });
    await withGateway(stale, async (gw) => {
      const res = await login(gw);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.ok(body.access_token, res.body);
      assert.equal(body.mfa_required, undefined);
      assert.equal(gw.callsTo('mfa.challenge.create').length, 1);
      assert.deepEqual(
        gw.callsTo('session.session.create').map((s) => s.amr),
        [['pwd']],
      );
      const warning = gw.logs.find((l) => l.msg === 'mfa_enabled is set but the user has no TOTP');
      assert.ok(warning, JSON.stringify(gw.logs));
      assert.equal(warning.level, 40);
      assert.equal(warning.userId, userOf(gw).id);
    });
  });

  test('any other failure of mfa.challenge.create is the answer (503), and no session is opened', async () => {
    const down = services({ mfa_enabled: true }, async () => {
      throw new AppError('service_unavailable', 'the mfa database is down', { retryAfter: 3 });
    });
    await withGateway(down, async (gw) => {
      const res = await login(gw);
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().error, 'service_unavailable');
      assert.equal(res.headers['retry-after'], '3');
      assert.equal(gw.callsTo('session.session.create').length, 0, 'the second factor is never skipped on an outage');
    });
  });

  test("identity's refusals are the answer and open no session: wrong password 401, banned 403", async () => {
    const banned: StandIns = {
      'identity.user.authenticate': async () => {
        throw new AppError('user_banned', 'this account is banned');
      },
    };
    await withGateway(services({}), async (gw) => {
      const res = await login(gw, { password: 'wrong password' });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'invalid_credentials');
      assert.equal(gw.callsTo('session.session.create').length, 0);
    });
    await withGateway(banned, async (gw) => {
      const res = await login(gw);
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().error, 'user_banned');
      assert.equal(gw.callsTo('session.session.create').length, 0);
      assert.deepEqual(cookiesOf(res), {}, 'no device cookie for a refused sign-in');
    });
  });

  test("the caller's X-Request-Id reaches every service the login calls", async () => {
    await withGateway(services({}), async (gw) => {
      assert.equal((await login(gw, {}, { 'x-request-id': 'trace-login-1' })).statusCode, 200);
      assert.deepEqual(
        gw.calls.map((c) => [c.subject, c.requestId]),
        [
          ['identity.user.authenticate', 'trace-login-1'],
          ['session.session.create', 'trace-login-1'],
        ],
      );
    });
    await withGateway(services({ mfa_enabled: true }), async (gw) => {
      assert.equal((await login(gw, {}, { 'x-request-id': 'trace-login-2' })).statusCode, 200);
      assert.deepEqual(
        gw.calls.map((c) => [c.subject, c.requestId]),
        [
          ['identity.user.authenticate', 'trace-login-2'],
          ['mfa.challenge.create', 'trace-login-2'],
        ],
      );
    });
  });

  test('without X-Request-Id, the calls of one login share one generated id, and another login has another', async () => {
    await withGateway(services({}), async (gw) => {
      assert.equal((await login(gw)).statusCode, 200);
      assert.equal((await login(gw)).statusCode, 200);
      const [a, b, c, d] = gw.calls.map((call) => call.requestId);
      assert.equal(gw.calls.length, 4);
      assert.match(a ?? '', /^[0-9a-f-]{36}$/);
      assert.equal(a, b);
      assert.equal(c, d);
      assert.notEqual(a, c);
    });
  });
});
