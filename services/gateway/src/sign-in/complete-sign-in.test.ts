import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import {
  cookiesOf,
  gatewayWith,
  guestRecord,
  type StandInGateway,
  USER_FIELDS,
  userRecord,
} from '../app.test-support.ts';

// Every sign-in method ends in complete-sign-in.ts: one session for the user, answered as the
// TokenResponse in the caller's auth mode. Checked here for each method's route alike, over
// https (so the cookies must be Secure).

const PASSWORD = 'correct horse battery';
const user = userRecord('every@example.com');

const methods: { name: string; url: string; body: object; amr: string[] }[] = [
  { name: 'register', url: '/auth/register', body: { email: 'new@example.com', password: PASSWORD }, amr: ['pwd'] },
  { name: 'password', url: '/auth/login', body: { email: user.email!, password: PASSWORD }, amr: ['pwd'] },
  { name: 'guest', url: '/auth/guest', body: {}, amr: ['guest'] },
  { name: 'magic link', url: '/auth/magic-link/verify', body: { token: 'T'.repeat(43) }, amr: ['magic_link'] },
  {
    name: 'passkey',
    url: '/auth/passkeys/login/verify',
    body: { challenge_id: randomUUID(), response: { id: 'cred' } },
    amr: ['webauthn'],
  },
  { name: 'second factor', url: '/auth/login/mfa', body: { mfa_token: 'm', code: '123456' }, amr: ['pwd', 'otp'] },
];

let gw: StandInGateway;
before(async () => {
  gw = await gatewayWith(
    {
      'identity.user.register': async (m) => ({ user: userRecord(m.email) }),
      'identity.user.authenticate': async () => ({ user }),
      'identity.guest.create': async () => ({ user: guestRecord() }),
      'identity.magic_link.verify': async () => ({ user, created: false, session_ids: [] }),
      'mfa.passkey.login_verify': async () => ({ project_id: DEFAULT_PROJECT_ID, user_id: user.id, amr: ['webauthn'] }),
      'mfa.challenge.verify': async () => ({ project_id: DEFAULT_PROJECT_ID, user_id: user.id, amr: ['pwd', 'otp'] }),
      'identity.user.get': async () => ({ user }),
    },
    { PUBLIC_URL: 'https://auth.example', RATE_LIMIT_PER_IP_PER_MINUTE: '1000' },
  );
});
after(() => gw.close());

/** Signs in by `method` in `mode`: the response and the session the session service opened for it. */
async function signIn(method: (typeof methods)[number], mode: 'token' | 'cookie') {
  const earlier = gw.calls.length;
  const res = await gw.app.inject({ method: 'POST', url: method.url, payload: { ...method.body, auth_mode: mode } });
  assert.ok(res.statusCode === 200 || res.statusCode === 201, `${method.name}: ${res.statusCode} ${res.body}`);
  const opened = gw.calls.slice(earlier).filter((c) => c.subject === 'session.session.create');
  assert.equal(opened.length, 1, `${method.name}: one session opened`);
  const request = gw.callsTo('session.session.create').at(-1);
  const session = gw.answersOf('session.session.create').at(-1);
  assert.ok(request && session);
  return { res, body: res.json(), session, request };
}

describe('every sign-in ends alike', () => {
  for (const method of methods) {
    test(`${method.name}: token mode answers the session's tokens in the body, with the public User`, async () => {
      const { res, body, session, request } = await signIn(method, 'token');
      assert.deepEqual(request.amr, method.amr);
      assert.equal(body.access_token, session.access_token);
      assert.equal(body.refresh_token, session.refresh_token);
      assert.equal(body.expires_in, session.expires_in);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.user.id, request.user_id);
      assert.deepEqual(Object.keys(body.user).sort(), USER_FIELDS);
      const cookies = cookiesOf(res);
      assert.equal(cookies.gh_access, undefined);
      assert.equal(cookies.gh_refresh, undefined);
    });

    test(`${method.name}: cookie mode sets them as Secure HttpOnly cookies and leaves them out of the body`, async () => {
      const { res, body, session } = await signIn(method, 'cookie');
      assert.deepEqual(Object.keys(body).sort(), ['expires_in', 'token_type', 'user']);
      const { gh_access, gh_refresh } = cookiesOf(res);
      assert.ok(gh_access && gh_refresh, String(res.headers['set-cookie']));
      assert.ok(gh_access.startsWith(`gh_access=${session.access_token};`));
      assert.ok(gh_refresh.startsWith(`gh_refresh=${session.refresh_token};`));
      for (const cookie of [gh_access, gh_refresh]) {
        assert.match(cookie, /; HttpOnly/);
        assert.match(cookie, /; Secure/);
        assert.match(cookie, /; SameSite=Lax/);
      }
      assert.match(gh_refresh, /; Path=\/auth\/refresh(;|$)/);
    });
  }
});
