// What the sign-in routes record in the audit log (through the recording sink of the stand-in
// gateway): the method, the outcome, the account when known, where the request came from, and
// nothing of the credentials.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { type AuditEvent, DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import { type StandInGateway, type StandIns, userRecord, withGateway } from '../app.test-support.ts';

const PASSWORD = 'correct horse battery staple';
const OWNER = 'owner@example.com';
const CLIENT = { ip: '192.0.2.44', user_agent: 'audit-test/2.0' };

const post = (gw: StandInGateway, url: string, payload: object, token?: string) =>
  gw.app.inject({
    method: 'POST',
    url,
    payload,
    remoteAddress: CLIENT.ip,
    headers: { 'user-agent': CLIENT.user_agent, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });

/** Polls the sink (at most 2 s) until it holds `n` events: a refusal's event is recorded after the answer. */
async function eventsOf(gw: StandInGateway, n: number): Promise<AuditEvent[]> {
  const end = Date.now() + 2_000;
  while (gw.audit.events.length < n) {
    if (Date.now() > end) assert.fail(`expected ${n} audit events, got ${JSON.stringify(gw.audit.events)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return gw.audit.events;
}

/** Identity knows OWNER with `fields`; a wrong password or another address is invalid_credentials. */
function identity(fields: Parameters<typeof userRecord>[1] = {}): StandIns & { owner: ReturnType<typeof userRecord> } {
  const owner = userRecord(OWNER, fields);
  return {
    owner,
    'identity.user.authenticate': async (m) => {
      if (m.email !== OWNER || m.password !== PASSWORD) throw new AppError('invalid_credentials', 'wrong');
      if (owner.banned) throw new AppError('user_banned', 'this account is banned');
      return { user: owner };
    },
    'identity.user.find': async (m) => ({ user: m.email === OWNER ? owner : null }),
    'identity.user.get': async () => ({ user: owner }),
    'mfa.challenge.create': async () => ({ mfa_token: 'mfa-token-1', methods: ['totp'], expires_in: 300 }),
    'mfa.challenge.verify': async (m) => {
      if (m.code !== '123456') throw new AppError('invalid_code', 'the code is wrong');
      return { project_id: owner.project_id, user_id: owner.id, amr: ['pwd', 'otp'] };
    },
  };
}

const withoutSecrets = (events: AuditEvent[], secrets: string[]) => {
  const json = JSON.stringify(events);
  for (const secret of secrets) assert.ok(!json.includes(secret), `an event holds ${secret}`);
};

describe('the audit log of sign-ins', () => {
  test('a password sign-in records sign_in.succeeded with the method, the user, the address and the agent', async () => {
    const services = identity();
    await withGateway(services, async (gw) => {
      const res = await post(gw, '/auth/login', { email: OWNER, password: PASSWORD });
      assert.equal(res.statusCode, 200, res.body);
      const [event] = await eventsOf(gw, 1);
      assert.equal(event?.type, 'sign_in.succeeded');
      assert.equal(event?.project_id, DEFAULT_PROJECT_ID);
      assert.equal(event?.user_id, services.owner.id);
      assert.equal(event?.actor_id, null);
      assert.equal(event?.ip, CLIENT.ip);
      assert.equal(event?.user_agent, CLIENT.user_agent);
      assert.deepEqual(event?.data, { method: 'password' });
      const body = res.json();
      withoutSecrets(gw.audit.events, [PASSWORD, OWNER, body.access_token, body.refresh_token]);
    });
  });

  test('a wrong password records sign_in.failed for the account, after the answer, without the password or the address', async () => {
    const services = identity();
    await withGateway(services, async (gw) => {
      const res = await post(gw, '/auth/login', { email: OWNER, password: 'not the password' });
      assert.equal(res.statusCode, 401);
      const [event] = await eventsOf(gw, 1);
      assert.equal(event?.type, 'sign_in.failed');
      assert.equal(event?.user_id, services.owner.id, 'the account the address names');
      assert.equal(event?.ip, CLIENT.ip);
      assert.equal(event?.user_agent, CLIENT.user_agent);
      assert.deepEqual(event?.data, { method: 'password', reason: 'invalid_credentials' });
      withoutSecrets(gw.audit.events, ['not the password', PASSWORD, OWNER]);
    });
  });

  test('an unknown address records sign_in.failed with no user and nothing of the address', async () => {
    await withGateway(identity(), async (gw) => {
      const typed = 'stranger@example.com';
      const res = await post(gw, '/auth/login', { email: typed, password: PASSWORD });
      assert.equal(res.statusCode, 401);
      const [event] = await eventsOf(gw, 1);
      assert.equal(event?.user_id, null);
      assert.deepEqual(event?.data, { method: 'password', reason: 'invalid_credentials' });
      withoutSecrets(gw.audit.events, [typed, 'stranger', PASSWORD]);
    });
  });

  test('a banned account records user_banned; an identity outage records nothing', async () => {
    const banned = identity({ banned: true });
    await withGateway(banned, async (gw) => {
      assert.equal((await post(gw, '/auth/login', { email: OWNER, password: PASSWORD })).statusCode, 403);
      const [event] = await eventsOf(gw, 1);
      assert.equal(event?.user_id, banned.owner.id);
      assert.deepEqual(event?.data, { method: 'password', reason: 'user_banned' });
    });
    await withGateway({}, async (gw) => {
      assert.equal((await post(gw, '/auth/login', { email: OWNER, password: PASSWORD })).statusCode, 503);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(gw.audit.events, [], 'the service failed, not the account');
    });
  });

  test('a second factor: a wrong code records an mfa failure, the right one an mfa sign-in; never the code', async () => {
    const services = identity({ mfa_enabled: true });
    await withGateway(services, async (gw) => {
      const first = await post(gw, '/auth/login', { email: OWNER, password: PASSWORD });
      assert.equal(first.json().mfa_required, true);
      assert.equal(gw.audit.events.length, 0, 'the first factor alone is no sign-in yet');
      const wrong = await post(gw, '/auth/login/mfa', { mfa_token: 'mfa-token-1', code: '654321' });
      assert.equal(wrong.statusCode, 401);
      const right = await post(gw, '/auth/login/mfa', { mfa_token: 'mfa-token-1', code: '123456' });
      assert.equal(right.statusCode, 200, right.body);
      const [failed, succeeded] = await eventsOf(gw, 2);
      assert.equal(failed?.type, 'sign_in.failed');
      assert.deepEqual(failed?.data, { method: 'mfa', factor: 'totp', reason: 'invalid_code' });
      assert.equal(failed?.ip, CLIENT.ip);
      assert.equal(succeeded?.type, 'sign_in.succeeded');
      assert.equal(succeeded?.user_id, services.owner.id);
      assert.deepEqual(succeeded?.data, { method: 'mfa', factor: 'totp' });
      withoutSecrets(gw.audit.events, ['654321', '123456', 'mfa-token-1', PASSWORD]);
    });
  });

  test('logout and logout-all record sign_out with their scope', async () => {
    await withGateway(
      { 'session.user.revoke': async () => ({ session_ids: [randomUUID(), randomUUID()] }) },
      async (gw) => {
        const sub = randomUUID();
        const sid = randomUUID();
        const token = await gw.sign({ sub, sid });
        assert.equal(
          (await post(gw, '/auth/logout-all', {}, await gw.sign({ sub, sid: randomUUID() }))).statusCode,
          200,
        );
        assert.equal((await post(gw, '/auth/logout', {}, token)).statusCode, 204);
        const [all, one] = await eventsOf(gw, 2);
        assert.equal(all?.type, 'sign_out');
        assert.equal(all?.user_id, sub);
        assert.deepEqual(all?.data, { scope: 'all', sessions_revoked: 2 });
        assert.deepEqual(one?.data, { scope: 'session', session_id: sid });
        assert.equal(one?.ip, CLIENT.ip);
      },
    );
  });
});
