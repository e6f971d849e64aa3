import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID, type UserRecord } from '@gatehouse/contracts';
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

// POST /auth/login/mfa against stand-in mfa, identity and session services: the challenge is
// checked by mfa, the user read again from identity (it may have been banned meanwhile), and the
// session opened with the amr mfa answered.

const MFA_TOKEN = 'mfa-token-abc';
const CLIENT = { ip: '192.0.2.11', user_agent: 'mfa-test/1.0' };
const WEBAUTHN = { id: 'cred-2', rawId: 'cred-2', type: 'public-key', response: { signature: 'sig' } };

/**
 * mfa: MFA_TOKEN with code 123456, recovery code `rc-1` or any webauthn answer verifies for `user`
 * (amr: the first factor's and the second's); another code is invalid_code, another token invalid_token.
 */
function services(user: () => UserRecord): StandIns {
  return {
    'mfa.challenge.verify': async (m) => {
      if (m.mfa_token !== MFA_TOKEN) throw new AppError('invalid_token', 'the challenge is invalid or has expired');
      const second =
        m.code === '123456' ? 'otp' : m.recovery_code === 'rc-1' ? 'recovery_code' : m.webauthn && 'webauthn';
      if (!second) throw new AppError('invalid_code', 'the code is not valid');
      return { project_id: DEFAULT_PROJECT_ID, user_id: user().id, amr: ['pwd', second] };
    },
    'identity.user.get': async () => ({ user: user() }),
  };
}

const loginMfa = (gw: StandInGateway, payload: object, headers: Record<string, string> = {}) =>
  gw.app.inject({
    method: 'POST',
    url: '/auth/login/mfa',
    payload,
    remoteAddress: CLIENT.ip,
    headers: { 'user-agent': CLIENT.user_agent, ...headers },
  });

describe('POST /auth/login/mfa', () => {
  test('exactly one of code, recovery_code and webauthn, else 400 validation_failed before mfa is asked', async () => {
    const user = userRecord('two@example.com', { mfa_enabled: true });
    await withGateway(
      services(() => user),
      async (gw) => {
        for (const payload of [
          { mfa_token: MFA_TOKEN },
          { mfa_token: MFA_TOKEN, code: '123456', recovery_code: 'rc-1' },
          { mfa_token: MFA_TOKEN, code: '123456', webauthn: WEBAUTHN },
          { mfa_token: MFA_TOKEN, code: '123456', recovery_code: 'rc-1', webauthn: WEBAUTHN },
        ]) {
          const res = await loginMfa(gw, payload);
          assert.equal(res.statusCode, 400, JSON.stringify(payload));
          assert.equal(res.json().error, 'validation_failed');
          assert.ok(Array.isArray(res.json().details));
        }
        assert.deepEqual(gw.calls, []);
      },
    );
  });

  test('a right code: mfa verifies it, identity is read again, the session gets the amr mfa answered', async () => {
    const user = userRecord('two@example.com', { mfa_enabled: true, role: 'admin' });
    await withGateway(
      services(() => user),
      async (gw) => {
        const res = await loginMfa(gw, { mfa_token: MFA_TOKEN, code: '123456' });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(
          gw.calls.map((c) => [c.subject, c.data]),
          [
            ['mfa.challenge.verify', { mfa_token: MFA_TOKEN, code: '123456' }],
            ['identity.user.get', { project_id: DEFAULT_PROJECT_ID, user_id: user.id }],
            [
              'session.session.create',
              { ...CLIENT, amr: ['pwd', 'otp'], role: 'admin', project_id: DEFAULT_PROJECT_ID, user_id: user.id },
            ],
          ],
        );
        const body = res.json();
        assert.equal(body.user.id, user.id);
        assert.deepEqual(Object.keys(body.user).sort(), USER_FIELDS);
        assert.equal(await sessionCheck(gw.app, body.access_token), 200);
      },
    );
  });

  test("a recovery code or a passkey answer reaches mfa alone, and its amr is the session's", async () => {
    const user = userRecord('two@example.com', { mfa_enabled: true });
    await withGateway(
      services(() => user),
      async (gw) => {
        const recovery = await loginMfa(gw, { mfa_token: MFA_TOKEN, recovery_code: 'rc-1' });
        assert.equal(recovery.statusCode, 200, recovery.body);
        const passkey = await loginMfa(gw, { mfa_token: MFA_TOKEN, webauthn: WEBAUTHN, auth_mode: 'cookie' });
        assert.equal(passkey.statusCode, 200, passkey.body);
        assert.deepEqual(gw.callsTo('mfa.challenge.verify'), [
          { mfa_token: MFA_TOKEN, recovery_code: 'rc-1' },
          { mfa_token: MFA_TOKEN, webauthn: WEBAUTHN },
        ]);
        assert.deepEqual(
          gw.callsTo('session.session.create').map((s) => s.amr),
          [
            ['pwd', 'recovery_code'],
            ['pwd', 'webauthn'],
          ],
        );
        // Cookie mode holds for the second step too.
        assert.deepEqual(Object.keys(passkey.json()).sort(), ['expires_in', 'token_type', 'user']);
        assert.deepEqual(Object.keys(cookiesOf(passkey)).sort(), ['gh_access', 'gh_csrf', 'gh_refresh']);
      },
    );
  });

  test('a user banned between the two steps is refused (403 user_banned), and no session is opened', async () => {
    let user = userRecord('two@example.com', { mfa_enabled: true });
    await withGateway(
      services(() => user),
      async (gw) => {
        // The password step was passed before the ban; the code is right.
        user = { ...user, banned: true };
        const res = await loginMfa(gw, { mfa_token: MFA_TOKEN, code: '123456' });
        assert.equal(res.statusCode, 403, res.body);
        assert.equal(res.json().error, 'user_banned');
        assert.equal(gw.callsTo('identity.user.get').length, 1);
        assert.equal(gw.callsTo('session.session.create').length, 0);
      },
    );
  });

  test("mfa's refusals are the answer: invalid_code 401, invalid_token 401; no session", async () => {
    const user = userRecord('two@example.com', { mfa_enabled: true });
    await withGateway(
      services(() => user),
      async (gw) => {
        const wrongCode = await loginMfa(gw, { mfa_token: MFA_TOKEN, code: '000000' });
        assert.equal(wrongCode.statusCode, 401, wrongCode.body);
        assert.equal(wrongCode.json().error, 'invalid_code');
        const wrongToken = await loginMfa(gw, { mfa_token: 'expired', code: '123456' });
        assert.equal(wrongToken.statusCode, 401, wrongToken.body);
        assert.equal(wrongToken.json().error, 'invalid_token');
        assert.deepEqual(
          gw.calls.map((c) => c.subject),
          ['mfa.challenge.verify', 'mfa.challenge.verify'],
        );
      },
    );
  });

  test("the caller's X-Request-Id reaches mfa, identity and session", async () => {
    const user = userRecord('two@example.com', { mfa_enabled: true });
    await withGateway(
      services(() => user),
      async (gw) => {
        const res = await loginMfa(gw, { mfa_token: MFA_TOKEN, code: '123456' }, { 'x-request-id': 'trace-mfa-7' });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(
          gw.calls.map((c) => [c.subject, c.requestId]),
          [
            ['mfa.challenge.verify', 'trace-mfa-7'],
            ['identity.user.get', 'trace-mfa-7'],
            ['session.session.create', 'trace-mfa-7'],
          ],
        );
      },
    );
  });
});
