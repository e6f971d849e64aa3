// POST /auth/invitations/accept over inject(), against stand-in identity and session services.
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

const TOKEN = 'I'.repeat(43);
const TAKEN_TOKEN = 'T'.repeat(43);
const PASSWORD = 'correct horse battery';
const invited = userRecord('invited@example.test', { role: 'admin', name: 'Ada' });

/** identity accepts TOKEN for `invited`; TAKEN_TOKEN's address signed up meanwhile; any other token is bad. */
const identity: StandIns = {
  'identity.invitation.accept': async (m) => {
    if (m.token === TAKEN_TOKEN) throw new AppError('email_taken', 'this email is already registered');
    if (m.token !== TOKEN) throw new AppError('invalid_one_time_token', 'this link is invalid or has expired');
    return { user: invited };
  },
};

const accept = (gw: StandInGateway, payload: object) =>
  gw.app.inject({ method: 'POST', url: '/auth/invitations/accept', payload, remoteAddress: '192.0.2.7' });

describe('POST /auth/invitations/accept', () => {
  test('200 TokenResponse for the new user; the session has the invited role and amr ["pwd"]', async () => {
    await withGateway(identity, async (gw) => {
      const res = await accept(gw, { token: TOKEN, password: PASSWORD, name: 'Ada' });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.token_type, 'Bearer');
      assert.equal(typeof body.access_token, 'string');
      assert.equal(typeof body.refresh_token, 'string');
      assert.equal(body.expires_in, gw.config.accessTokenTtl);
      assert.deepEqual(Object.keys(body.user).sort(), USER_FIELDS);
      assert.equal(body.user.id, invited.id);
      assert.deepEqual(gw.callsTo('identity.invitation.accept'), [
        { project_id: DEFAULT_PROJECT_ID, token: TOKEN, password: PASSWORD, name: 'Ada' },
      ]);
      assert.deepEqual(
        gw.callsTo('session.session.create').map((s) => [s.user_id, s.role, s.amr, s.project_id]),
        [[invited.id, 'admin', ['pwd'], DEFAULT_PROJECT_ID]],
      );
      assert.equal(await sessionCheck(gw.app, body.access_token), 200);
      // Without a name, none is sent on.
      assert.equal((await accept(gw, { token: TOKEN, password: PASSWORD })).statusCode, 200);
      assert.deepEqual(gw.callsTo('identity.invitation.accept')[1], {
        project_id: DEFAULT_PROJECT_ID,
        token: TOKEN,
        password: PASSWORD,
      });
    });
  });

  test('cookie mode: the tokens as cookies, not in the body', async () => {
    await withGateway(identity, async (gw) => {
      const res = await accept(gw, { token: TOKEN, password: PASSWORD, auth_mode: 'cookie' });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(Object.keys(res.json()).sort(), ['expires_in', 'token_type', 'user']);
      assert.deepEqual(Object.keys(cookiesOf(res)).sort(), ['gh_access', 'gh_csrf', 'gh_refresh']);
    });
  });

  test('a bad, used or expired link is 400 invalid_token; an address that signed up meanwhile 409 email_taken; no session', async () => {
    await withGateway(identity, async (gw) => {
      const bad = await accept(gw, { token: 'B'.repeat(43), password: PASSWORD });
      assert.equal(bad.statusCode, 400, bad.body);
      assert.equal(bad.json().error, 'invalid_token');
      const taken = await accept(gw, { token: TAKEN_TOKEN, password: PASSWORD });
      assert.equal(taken.statusCode, 409, taken.body);
      assert.equal(taken.json().error, 'email_taken');
      assert.equal(gw.callsTo('session.session.create').length, 0);
    });
  });

  test('a body outside the contract is 400 validation_failed naming the field, and identity is not asked', async () => {
    await withGateway(identity, async (gw) => {
      const cases: [object, string][] = [
        [{ password: PASSWORD }, 'token'],
        [{ token: '', password: PASSWORD }, 'token'],
        [{ token: TOKEN }, 'password'],
        [{ token: TOKEN, password: 'short' }, 'password'],
        [{ token: TOKEN, password: 'x'.repeat(129) }, 'password'],
        [{ token: TOKEN, password: PASSWORD, name: 'n'.repeat(201) }, 'name'],
        [{ token: TOKEN, password: PASSWORD, auth_mode: 'session' }, 'auth_mode'],
        [{ token: TOKEN, password: PASSWORD, role: 'admin' }, 'role'],
        [{ token: TOKEN, password: PASSWORD, email: 'other@example.test' }, 'email'],
      ];
      for (const [payload, field] of cases) {
        const res = await accept(gw, payload);
        assert.equal(res.statusCode, 400, JSON.stringify(payload));
        const error = res.json() as { error: string; message: string; details: { field: string }[] };
        assert.equal(error.error, 'validation_failed', res.body);
        assert.ok(
          error.details.some((d) => d.field.replace(/^\//, '') === field),
          `${JSON.stringify(payload)}: ${res.body}`,
        );
      }
      assert.deepEqual(gw.calls, []);
    });
  });

  test('rate limited per IP like the other sign-in paths', async () => {
    await withGateway(
      identity,
      async (gw) => {
        assert.equal((await accept(gw, { token: 'B'.repeat(43), password: PASSWORD })).statusCode, 400);
        assert.equal((await accept(gw, { token: 'B'.repeat(43), password: PASSWORD })).statusCode, 400);
        const limited = await accept(gw, { token: TOKEN, password: PASSWORD });
        assert.equal(limited.statusCode, 429);
        assert.equal(limited.json().error, 'rate_limited');
        assert.equal(gw.callsTo('identity.invitation.accept').length, 2);
      },
      { RATE_LIMIT_PER_IP_PER_MINUTE: '2' },
    );
  });
});
