// The admin API's invitation routes over inject(), with a stand-in identity service: the role
// check on every route, what each route asks of identity, and the contract's errors.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID, type Invitation } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import { assertAdminOnly, type StandInGateway, type StandIns, withGateway } from '../app.test-support.ts';

const TAKEN = 'taken@example.test';
const OPEN_ID = randomUUID();
const now = new Date();
const open: Invitation = {
  id: OPEN_ID,
  email: 'open@example.test',
  role: 'admin',
  created_at: now.toISOString(),
  expires_at: new Date(now.getTime() + 7 * 86_400_000).toISOString(),
};

/** identity as it answers: `email_taken` for TAKEN, `not_found` for any id but OPEN_ID. */
const identity: StandIns = {
  'identity.invitation.create': async (m) => {
    if (m.email === TAKEN) throw new AppError('email_taken', 'this email is already registered');
    return { invitation: { ...open, id: randomUUID(), email: m.email, role: m.role } };
  },
  'identity.invitation.list': async () => ({ invitations: [open] }),
  'identity.invitation.revoke': async (m) => {
    if (m.invitation_id !== OPEN_ID) throw new AppError('not_found', 'no such open invitation');
    return {};
  },
};

const ROUTES: { method: 'GET' | 'POST' | 'DELETE'; url: string; payload?: object }[] = [
  { method: 'POST', url: '/admin/invitations', payload: { email: 'new@example.test' } },
  { method: 'GET', url: '/admin/invitations' },
  { method: 'DELETE', url: `/admin/invitations/${OPEN_ID}` },
];

async function adminOf(gw: StandInGateway): Promise<{ sub: string; headers: { authorization: string } }> {
  const sub = randomUUID();
  const token = await gw.sign({ sub, sid: randomUUID(), role: 'admin' });
  return { sub, headers: { authorization: `Bearer ${token}` } };
}

describe('admin invitation routes', () => {
  test('every route: 401 unauthorized without a token, 403 forbidden for a user or a guest, and identity is not asked', async () => {
    await withGateway(identity, (gw) => assertAdminOnly(gw, ROUTES));
  });

  test('POST: 201 with the invitation; identity gets the canonical address, the role (user by default) and the caller as inviter', async () => {
    await withGateway(identity, async (gw) => {
      const { sub, headers } = await adminOf(gw);
      const post = (payload: object) => gw.app.inject({ method: 'POST', url: '/admin/invitations', headers, payload });
      const res = await post({ email: '  New@Example.TEST ' });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.deepEqual(Object.keys(body).sort(), ['created_at', 'email', 'expires_at', 'id', 'role']);
      assert.equal(body.email, 'new@example.test');
      assert.equal(body.role, 'user');
      assert.equal((await post({ email: 'boss@example.test', role: 'admin' })).json().role, 'admin');
      assert.deepEqual(gw.callsTo('identity.invitation.create'), [
        { project_id: DEFAULT_PROJECT_ID, email: 'new@example.test', role: 'user', invited_by: sub },
        { project_id: DEFAULT_PROJECT_ID, email: 'boss@example.test', role: 'admin', invited_by: sub },
      ]);
    });
  });

  test('POST: redirect_to reaches identity only when allow-listed, else 400 invalid_redirect and no invitation', async () => {
    await withGateway(
      identity,
      async (gw) => {
        const { headers } = await adminOf(gw);
        const post = (payload: object) =>
          gw.app.inject({ method: 'POST', url: '/admin/invitations', headers, payload });
        const allowed = 'https://app.example/welcome';
        assert.equal((await post({ email: 'a@example.test', redirect_to: allowed })).statusCode, 201);
        const refused = await post({ email: 'b@example.test', redirect_to: 'https://evil.example/' });
        assert.equal(refused.statusCode, 400);
        assert.equal(refused.json().error, 'invalid_redirect');
        assert.deepEqual(
          gw.callsTo('identity.invitation.create').map((m) => [m.email, m.redirect_to]),
          [['a@example.test', allowed]],
        );
      },
      { REDIRECT_ALLOWLIST: 'https://app.example' },
    );
  });

  test('POST: an address with an account is 409 email_taken; a bad body is 400 validation_failed naming the field', async () => {
    await withGateway(identity, async (gw) => {
      const { headers } = await adminOf(gw);
      const post = (payload: object) => gw.app.inject({ method: 'POST', url: '/admin/invitations', headers, payload });
      const taken = await post({ email: TAKEN });
      assert.equal(taken.statusCode, 409);
      assert.equal(taken.json().error, 'email_taken');
      const cases: [object, string][] = [
        [{}, 'email'],
        [{ email: 'not an address' }, 'email'],
        [{ email: 'x@example.test', role: 'guest' }, 'role'],
        [{ email: 'x@example.test', role: 'owner' }, 'role'],
        [{ email: 'x@example.test', invited_by: randomUUID() }, 'invited_by'],
        [{ email: 'x@example.test', project_id: randomUUID() }, 'project_id'],
      ];
      for (const [payload, field] of cases) {
        const res = await post(payload);
        assert.equal(res.statusCode, 400, JSON.stringify(payload));
        const error = res.json() as { error: string; message: string; details: { field: string }[] };
        assert.equal(error.error, 'validation_failed', res.body);
        assert.equal(typeof error.message, 'string');
        assert.ok(
          error.details.some((d) => d.field.replace(/^\//, '') === field),
          `${JSON.stringify(payload)}: ${res.body}`,
        );
      }
      assert.deepEqual(
        gw.callsTo('identity.invitation.create').map((m) => m.email),
        [TAKEN],
      );
    });
  });

  test('POST: one address gets no more invitations an hour than the mail budget allows (429)', async () => {
    await withGateway(
      identity,
      async (gw) => {
        const { headers } = await adminOf(gw);
        const post = (email: string) =>
          gw.app.inject({ method: 'POST', url: '/admin/invitations', headers, payload: { email } });
        assert.equal((await post('again@example.test')).statusCode, 201);
        assert.equal((await post('Again@example.test')).statusCode, 201);
        const limited = await post('again@example.test');
        assert.equal(limited.statusCode, 429);
        assert.equal(limited.json().error, 'rate_limited');
        assert.ok(Number(limited.headers['retry-after']) > 0);
        assert.equal((await post('other@example.test')).statusCode, 201, 'another address has its own budget');
        assert.equal(gw.callsTo('identity.invitation.create').length, 3);
      },
      { MAIL_PER_ADDRESS_PER_HOUR: '2' },
    );
  });

  test('GET: 200 {"invitations"} of the caller project', async () => {
    await withGateway(identity, async (gw) => {
      const { headers } = await adminOf(gw);
      const res = await gw.app.inject({ method: 'GET', url: '/admin/invitations', headers });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { invitations: [open] });
      assert.deepEqual(gw.callsTo('identity.invitation.list'), [{ project_id: DEFAULT_PROJECT_ID }]);
    });
  });

  test('DELETE: 204 for an open invitation, 404 not_found for any other, 400 for an id that is no uuid or a body', async () => {
    await withGateway(identity, async (gw) => {
      const { headers } = await adminOf(gw);
      const del = (id: string, payload?: object) =>
        gw.app.inject({ method: 'DELETE', url: `/admin/invitations/${id}`, headers, ...(payload ? { payload } : {}) });
      const done = await del(OPEN_ID);
      assert.equal(done.statusCode, 204);
      assert.equal(done.body, '');
      const gone = await del(randomUUID());
      assert.equal(gone.statusCode, 404);
      assert.equal(gone.json().error, 'not_found');
      assert.equal((await del('not-a-uuid')).statusCode, 400);
      const withBody = await del(OPEN_ID, { reason: 'x' });
      assert.equal(withBody.statusCode, 400);
      assert.equal(withBody.json().error, 'validation_failed');
      assert.deepEqual(gw.callsTo('identity.invitation.revoke')[0], {
        project_id: DEFAULT_PROJECT_ID,
        invitation_id: OPEN_ID,
      });
      assert.equal(gw.callsTo('identity.invitation.revoke').length, 2);
    });
  });
});
