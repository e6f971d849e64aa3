import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import {
  guestRecord,
  type StandInGateway,
  type StandIns,
  sessionCheck,
  USER_FIELDS,
  userRecord,
  withGateway,
} from '../app.test-support.ts';

// POST /auth/guest and /auth/guest/convert against stand-in identity and session services, with
// access tokens this gateway verifies: a converted guest's session must die at once, here.

const PASSWORD = 'correct horse battery';
const CLIENT = { ip: '192.0.2.8', user_agent: 'guest-test/1.0' };

/** identity: guests are created, and converted into a password user of the same id (or `convert` instead). */
function identity(convert?: StandIns['identity.guest.convert']): StandIns {
  return {
    'identity.guest.create': async (m) => ({ user: guestRecord(m.name !== undefined ? { name: m.name } : {}) }),
    'identity.guest.convert':
      convert ?? (async (m) => ({ user: userRecord(m.email, { id: m.user_id, email_verified: false }) })),
  };
}

const post = (gw: StandInGateway, url: string, payload?: object, headers: Record<string, string> = {}) =>
  gw.app.inject({
    method: 'POST',
    url,
    ...(payload ? { payload } : {}),
    remoteAddress: CLIENT.ip,
    headers: { 'user-agent': CLIENT.user_agent, ...headers },
  });

/** A guest signed in through POST /auth/guest: its access token and ids. */
async function signedInGuest(gw: StandInGateway): Promise<{ token: string; userId: string; sid: string }> {
  const res = await post(gw, '/auth/guest');
  assert.equal(res.statusCode, 201, res.body);
  const session = gw.answersOf('session.session.create').at(-1);
  assert.ok(session);
  return { token: res.json().access_token, userId: res.json().user.id, sid: session.session_id };
}

describe('POST /auth/guest', () => {
  test('201 TokenResponse for a new guest: role guest, no email, a session with amr ["guest"]', async () => {
    await withGateway(identity(), async (gw) => {
      const res = await post(gw, '/auth/guest');
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.deepEqual(gw.callsTo('identity.guest.create'), [{ project_id: DEFAULT_PROJECT_ID }]);
      assert.deepEqual(gw.callsTo('session.session.create'), [
        { ...CLIENT, amr: ['guest'], role: 'guest', project_id: DEFAULT_PROJECT_ID, user_id: body.user.id },
      ]);
      assert.equal(body.user.role, 'guest');
      assert.equal(body.user.email, null);
      assert.deepEqual(Object.keys(body.user).sort(), USER_FIELDS);
      const check = await gw.app.inject({
        method: 'GET',
        url: '/auth/session',
        headers: { authorization: `Bearer ${body.access_token}` },
      });
      assert.equal(check.statusCode, 200, check.body);
      assert.deepEqual(check.json().session.amr, ['guest']);
      assert.equal(check.json().session.role, 'guest');
    });
  });

  test('a name reaches identity when given', async () => {
    await withGateway(identity(), async (gw) => {
      const res = await post(gw, '/auth/guest', { name: 'Visitor' });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(gw.callsTo('identity.guest.create'), [{ project_id: DEFAULT_PROJECT_ID, name: 'Visitor' }]);
      assert.equal(res.json().user.name, 'Visitor');
    });
  });
});

describe('POST /auth/guest/convert', () => {
  const convertBody = { email: 'kept@example.com', password: PASSWORD };

  test('a guest becomes a password user: identity converts it, the guest session is revoked, a new one opened', async () => {
    await withGateway(identity(), async (gw) => {
      const guest = await signedInGuest(gw);
      const res = await post(
        gw,
        '/auth/guest/convert',
        { ...convertBody, name: 'Kept' },
        {
          authorization: `Bearer ${guest.token}`,
          'x-request-id': 'trace-convert-1',
        },
      );
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();

      const converting = gw.calls.filter((c) => c.requestId === 'trace-convert-1');
      assert.deepEqual(
        converting.map((c) => [c.subject, c.data]),
        [
          [
            'identity.guest.convert',
            { project_id: DEFAULT_PROJECT_ID, user_id: guest.userId, ...convertBody, name: 'Kept' },
          ],
          ['session.session.revoke', { session_id: guest.sid, user_id: guest.userId, reason: 'guest_converted' }],
          [
            'session.session.create',
            { ...CLIENT, amr: ['pwd'], role: 'user', project_id: DEFAULT_PROJECT_ID, user_id: guest.userId },
          ],
        ],
      );
      assert.equal(body.user.id, guest.userId, 'the same user');
      assert.equal(body.user.role, 'user');
      assert.notEqual(body.access_token, guest.token);

      // The revoking call has returned: the guest's token is refused here at once (no event needed).
      assert.equal(await sessionCheck(gw.app, guest.token), 401);
      const check = await gw.app.inject({
        method: 'GET',
        url: '/auth/session',
        headers: { authorization: `Bearer ${body.access_token}` },
      });
      assert.equal(check.statusCode, 200, check.body);
      assert.equal(check.json().session.role, 'user');
      assert.deepEqual(check.json().session.amr, ['pwd']);
    });
  });

  test('a signed-in user who is no guest is refused (403 forbidden): nothing converted, nothing revoked', async () => {
    await withGateway(identity(), async (gw) => {
      const token = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'user' });
      const res = await post(gw, '/auth/guest/convert', convertBody, { authorization: `Bearer ${token}` });
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().error, 'forbidden');
      assert.deepEqual(gw.calls, []);
      assert.equal(await sessionCheck(gw.app, token), 200, 'the session lives on');
    });
  });

  test('without a token, 401 and no call', async () => {
    await withGateway(identity(), async (gw) => {
      const res = await post(gw, '/auth/guest/convert', convertBody);
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'unauthorized');
      assert.deepEqual(gw.calls, []);
    });
  });

  test('identity refuses the conversion (409 email_taken): the guest session is not revoked and still works', async () => {
    const taken = identity(async () => {
      throw new AppError('email_taken', 'an account with this email exists');
    });
    await withGateway(taken, async (gw) => {
      const guest = await signedInGuest(gw);
      const res = await post(gw, '/auth/guest/convert', convertBody, { authorization: `Bearer ${guest.token}` });
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().error, 'email_taken');
      assert.equal(gw.callsTo('session.session.revoke').length, 0);
      assert.equal(gw.callsTo('session.session.create').length, 1, 'only the guest sign-in');
      assert.equal(await sessionCheck(gw.app, guest.token), 200);
    });
  });
});
