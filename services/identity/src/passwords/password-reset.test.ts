import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type RequestOf } from '@gatehouse/contracts';
import { newId, type RequestSubjectName } from '@gatehouse/kit';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';

// A reset may hand an account to someone else: the session and mfa services are stand-ins here
// (the harness records what identity asked of them); tests/e2e runs the same flows against the real ones.

const email = (tag: string) => `${tag}-${newId()}@example.test`;
const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';
const DAY = 86_400_000;

describe('identity password reset', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ PUBLIC_URL: 'https://auth.example.test', RESET_REMOVES_FACTORS_DAYS: '7' });
  });
  after(() => identity?.close());

  const request = <S extends RequestSubjectName>(subject: S, data: RequestOf<S>) => identity.bus.request(subject, data);
  const register = (address: string) =>
    request('identity.user.register', { project_id: P, email: address, password: PASSWORD, name: 'Ada <b>' });
  const callsFor = (userId: string) => identity.peerCalls.filter((c) => c.data.user_id === userId);
  const verified = async (address: string) => {
    const { user } = await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    await request('identity.email.verify', { project_id: P, token: identity.tokenFrom(address, 'verify_email') });
    return user;
  };

  test('forgot mails a reset link to a known address and nothing to an unknown one', async () => {
    const unknown = email('nobody');
    await request('identity.password.forgot', { project_id: P, email: unknown });
    assert.equal(identity.mailsTo(unknown).length, 0);

    const address = email('forgot');
    await register(address);
    await request('identity.password.forgot', { project_id: P, email: `  ${address.toUpperCase()} ` });
    const mail = identity.mailsTo(address).at(-1);
    assert.equal(mail?.template, 'reset_password');
    assert.equal(mail?.vars.expires_in, '1 hour');
  });

  test('reset sets the new password once, verifies the address, and sends the notice', async () => {
    const address = email('reset');
    const { user } = await register(address);
    await request('identity.password.forgot', { project_id: P, email: address });
    const token = identity.tokenFrom(address, 'reset_password');
    const reset = await request('identity.password.reset', {
      project_id: P,
      token,
      password: NEW_PASSWORD,
      ip: '203.0.113.9',
      user_agent: 'curl/8',
    });
    assert.equal(reset.user.id, user.id);
    assert.equal(reset.user.email_verified, true);
    await rejectsWith(
      request('identity.user.authenticate', { project_id: P, email: address, password: PASSWORD }),
      'invalid_credentials',
    );
    await request('identity.user.authenticate', { project_id: P, email: address, password: NEW_PASSWORD });
    assert.ok(
      identity.published.some((e) => e.subject === 'events.user.password_changed' && e.data.user_id === user.id),
    );
    const notice = identity.mailsTo(address).at(-1);
    assert.equal(notice?.template, 'password_changed');
    assert.equal(notice?.vars.ip, '203.0.113.9');
    await rejectsWith(
      request('identity.password.reset', { project_id: P, token, password: 'yet another password' }),
      'invalid_one_time_token',
    );
  });

  test('a newer reset link retires the older one', async () => {
    const address = email('twice');
    await register(address);
    await request('identity.password.forgot', { project_id: P, email: address });
    const older = identity.tokenFrom(address, 'reset_password');
    await request('identity.password.forgot', { project_id: P, email: address });
    await rejectsWith(
      request('identity.password.reset', { project_id: P, token: older, password: NEW_PASSWORD }),
      'invalid_one_time_token',
    );
    await request('identity.password.reset', {
      project_id: P,
      token: identity.tokenFrom(address, 'reset_password'),
      password: NEW_PASSWORD,
    });
  });

  test('a banned user gets no reset link and no magic link', async () => {
    const address = email('banned');
    const { user } = await register(address);
    await identity.database.db.updateTable('users').set({ banned: true }).where('id', '=', user.id).execute();
    const before = identity.mailsTo(address).length;
    await request('identity.password.forgot', { project_id: P, email: address });
    await request('identity.magic_link.send', { project_id: P, email: address });
    assert.equal(identity.mailsTo(address).length, before);
  });

  test('a reset ends the sessions and removes the recent factors before it sets the password', async () => {
    const address = email('reset');
    const user = await verified(address);
    await request('identity.password.forgot', { project_id: P, email: address });
    const before = Date.now();
    await request('identity.password.reset', {
      project_id: P,
      token: identity.tokenFrom(address, 'reset_password'),
      password: NEW_PASSWORD,
    });
    const calls = callsFor(user.id);
    assert.equal(calls[0]?.subject, 'session.user.revoke');
    assert.equal(calls[1]?.subject, 'mfa.factors.forget');
    const since = Date.parse(String(calls[1]?.data.added_since));
    assert.ok(Math.abs(before - 7 * DAY - since) < 5_000, `added_since ${calls[1]?.data.added_since}`);
    // And once more after the commit, for a session opened in between.
    assert.equal(calls.at(-1)?.subject, 'session.user.revoke');
  });

  test('a reset whose peers cannot be reached changes nothing, and its link still works', async () => {
    const address = email('reset-down');
    await verified(address);
    await request('identity.password.forgot', { project_id: P, email: address });
    const token = identity.tokenFrom(address, 'reset_password');
    identity.peersDown = true;
    try {
      await rejectsWith(
        request('identity.password.reset', { project_id: P, token, password: NEW_PASSWORD }),
        'service_unavailable',
      );
    } finally {
      identity.peersDown = false;
    }
    // The old password still works (nothing was committed) and the same link succeeds now.
    await request('identity.user.authenticate', { project_id: P, email: address, password: PASSWORD });
    await request('identity.password.reset', { project_id: P, token, password: NEW_PASSWORD });
    await request('identity.user.authenticate', { project_id: P, email: address, password: NEW_PASSWORD });
  });

  test('a reset of an address never proven before removes every factor, not just recent ones', async () => {
    const address = email('reset-unproven');
    const { user } = await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    await request('identity.password.forgot', { project_id: P, email: address });
    await request('identity.password.reset', {
      project_id: P,
      token: identity.tokenFrom(address, 'reset_password'),
      password: NEW_PASSWORD,
    });
    const forget = callsFor(user.id).find((c) => c.subject === 'mfa.factors.forget');
    assert.ok(forget);
    assert.equal(forget.data.added_since, undefined);
  });
});
