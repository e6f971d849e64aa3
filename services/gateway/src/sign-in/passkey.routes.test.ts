import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID, type UserRecord } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import { type StandInGateway, type StandIns, USER_FIELDS, userRecord, withGateway } from '../app.test-support.ts';

// POST /auth/passkeys/login/verify against stand-in mfa, identity and session services: mfa checks
// the assertion, identity must still let the user in, the session records amr ["webauthn"].
// (The options route's answer floor is passkey.options.test.ts.)

const ASSERTION = { id: 'cred-1', rawId: 'cred-1', type: 'public-key', response: { signature: 'sig' } };

/** mfa verifies `challengeId` for `user` (else `verifyError`); identity answers `user` as it is now. */
function services(user: UserRecord, challengeId: string, verifyError?: AppError): StandIns {
  return {
    'mfa.passkey.login_verify': async (m) => {
      if (verifyError) throw verifyError;
      if (m.challenge_id !== challengeId) throw new AppError('invalid_sign_in_challenge', 'unknown challenge');
      return { project_id: m.project_id, user_id: user.id, amr: ['webauthn'] };
    },
    'identity.user.get': async (m) => {
      if (m.user_id !== user.id) throw new AppError('not_found', 'no such user');
      return { user };
    },
    'mfa.challenge.create': async () => ({ mfa_token: 'never', methods: ['totp'], expires_in: 300 }),
  };
}

const verify = (gw: StandInGateway, payload: object, headers: Record<string, string> = {}) =>
  gw.app.inject({ method: 'POST', url: '/auth/passkeys/login/verify', payload, headers });

describe('POST /auth/passkeys/login/verify', () => {
  test('mfa\'s verified assertion opens a session with amr ["webauthn"] for the user identity answers', async () => {
    const user = userRecord('pk@example.com', { role: 'admin' });
    const challengeId = randomUUID();
    await withGateway(services(user, challengeId), async (gw) => {
      const res = await verify(
        gw,
        { challenge_id: challengeId, response: ASSERTION },
        { 'x-request-id': 'trace-passkey-1', 'user-agent': 'passkey-test/1.0' },
      );
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(
        gw.calls.map((c) => [c.subject, c.requestId, c.data]),
        [
          [
            'mfa.passkey.login_verify',
            'trace-passkey-1',
            { project_id: DEFAULT_PROJECT_ID, challenge_id: challengeId, response: ASSERTION },
          ],
          ['identity.user.get', 'trace-passkey-1', { project_id: DEFAULT_PROJECT_ID, user_id: user.id }],
          [
            'session.session.create',
            'trace-passkey-1',
            {
              ip: '127.0.0.1',
              user_agent: 'passkey-test/1.0',
              amr: ['webauthn'],
              role: 'admin',
              project_id: DEFAULT_PROJECT_ID,
              user_id: user.id,
            },
          ],
        ],
      );
      const body = res.json();
      assert.equal(body.user.id, user.id);
      assert.deepEqual(Object.keys(body.user).sort(), USER_FIELDS);
      const check = await gw.app.inject({
        method: 'GET',
        url: '/auth/session',
        headers: { authorization: `Bearer ${body.access_token}` },
      });
      assert.deepEqual(check.json().session.amr, ['webauthn']);
    });
  });

  test('a passkey is two factors already: a user with TOTP on gets tokens, not a challenge', async () => {
    const user = userRecord('both@example.com', { mfa_enabled: true });
    const challengeId = randomUUID();
    await withGateway(services(user, challengeId), async (gw) => {
      const res = await verify(gw, { challenge_id: challengeId, response: ASSERTION });
      assert.equal(res.statusCode, 200, res.body);
      assert.ok(res.json().access_token);
      assert.equal(gw.callsTo('mfa.challenge.create').length, 0);
    });
  });

  test("mfa's invalid_sign_in_challenge is 401 invalid_challenge on the wire (a failed sign-in), and no session", async () => {
    const user = userRecord('pk@example.com');
    await withGateway(services(user, randomUUID()), async (gw) => {
      const res = await verify(gw, { challenge_id: randomUUID(), response: ASSERTION });
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(res.json().error, 'invalid_challenge');
      assert.equal(res.headers['www-authenticate'], 'Bearer');
      assert.deepEqual(
        gw.calls.map((c) => c.subject),
        ['mfa.passkey.login_verify'],
        'identity is not asked, no session opened',
      );
    });
  });

  test('an assertion mfa rejects (invalid_credentials) is 401, and no session', async () => {
    const user = userRecord('pk@example.com');
    const challengeId = randomUUID();
    const rejected = new AppError('invalid_credentials', 'the passkey could not be verified');
    await withGateway(services(user, challengeId, rejected), async (gw) => {
      const res = await verify(gw, { challenge_id: challengeId, response: ASSERTION });
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(res.json().error, 'invalid_credentials');
      assert.equal(gw.callsTo('session.session.create').length, 0);
    });
  });

  test('a banned user with a valid passkey is refused (403 user_banned), and no session', async () => {
    const user = userRecord('banned@example.com', { banned: true });
    const challengeId = randomUUID();
    await withGateway(services(user, challengeId), async (gw) => {
      const res = await verify(gw, { challenge_id: challengeId, response: ASSERTION });
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().error, 'user_banned');
      assert.equal(gw.callsTo('identity.user.get').length, 1);
      assert.equal(gw.callsTo('session.session.create').length, 0);
    });
  });

  test('a challenge_id that is no UUID is 400 validation_failed, before any service', async () => {
    const user = userRecord('pk@example.com');
    await withGateway(services(user, randomUUID()), async (gw) => {
      const res = await verify(gw, { challenge_id: 'not-a-uuid', response: ASSERTION });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error, 'validation_failed');
      assert.deepEqual(gw.calls, []);
    });
  });
});
