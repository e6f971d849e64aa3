import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type RequestOf } from '@gatehouse/contracts';
import { isAppError, newId, type RequestSubjectName } from '@gatehouse/kit';
import { startTestIdentity, type TestIdentity } from '../app.test-support.ts';

// What identity does when an account may change hands: a password reset, an address proven for
// the first time. The session and mfa services are stand-ins here (the harness records what
// identity asked of them); tests/e2e runs the same flows against the real ones.

const email = (tag: string) => `${tag}-${newId()}@example.test`;
const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';
const DAY = 86_400_000;

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (err) => isAppError(err, code as never));

describe('identity: an account changing hands', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ PUBLIC_URL: 'https://auth.example.test', RESET_REMOVES_FACTORS_DAYS: '7' });
  });
  after(() => identity?.close());

  const request = <S extends RequestSubjectName>(subject: S, data: RequestOf<S>) => identity.bus.request(subject, data);
  const tokenFrom = (address: string, template: string) => {
    const mail = identity.mails.filter((m) => m.to === address && m.template === template).at(-1);
    assert.ok(mail, `a ${template} mail to ${address}`);
    return new URL(mail.vars.link ?? '').searchParams.get('token') ?? '';
  };
  const callsFor = (userId: string) => identity.peerCalls.filter((c) => c.data.user_id === userId);
  const verified = async (address: string) => {
    const { user } = await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    await request('identity.email.verify', { project_id: P, token: tokenFrom(address, 'verify_email') });
    return user;
  };

  test('a reset ends the sessions and removes the recent factors before it sets the password', async () => {
    const address = email('reset');
    const user = await verified(address);
    await request('identity.password.forgot', { project_id: P, email: address });
    const before = Date.now();
    await request('identity.password.reset', {
      project_id: P,
      token: tokenFrom(address, 'reset_password'),
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
    const token = tokenFrom(address, 'reset_password');
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
      token: tokenFrom(address, 'reset_password'),
      password: NEW_PASSWORD,
    });
    const forget = callsFor(user.id).find((c) => c.subject === 'mfa.factors.forget');
    assert.ok(forget);
    assert.equal(forget.data.added_since, undefined);
  });

  test('pre-registration: proving the address by magic link removes the password, factors and sessions set up before', async () => {
    // Mallory registers the victim's address with her own password and waits.
    const address = email('victim');
    const { user } = await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    await request('identity.user.authenticate', { project_id: P, email: address, password: PASSWORD });
    // The owner signs in by magic link.
    await request('identity.magic_link.send', { project_id: P, email: address });
    const signedIn = await request('identity.magic_link.verify', {
      project_id: P,
      token: tokenFrom(address, 'magic_link'),
    });
    assert.equal(signedIn.user.id, user.id);
    assert.equal(signedIn.user.email_verified, true);
    assert.equal(signedIn.user.has_password, false, 'the password set before the proof is gone');
    await rejectsWith(
      request('identity.user.authenticate', { project_id: P, email: address, password: PASSWORD }),
      'invalid_credentials',
    );
    const subjects = callsFor(user.id).map((c) => c.subject);
    assert.deepEqual(subjects.slice(0, 2), ['session.user.revoke', 'mfa.factors.forget']);
    assert.equal(callsFor(user.id).find((c) => c.subject === 'mfa.factors.forget')?.data.added_since, undefined);
  });

  test('a guest converted to an unproven address is claimed the same way', async () => {
    const { user: guest } = await request('identity.guest.create', { project_id: P });
    const address = email('converted');
    await request('identity.guest.convert', { project_id: P, user_id: guest.id, email: address, password: PASSWORD });
    await request('identity.magic_link.send', { project_id: P, email: address });
    const signedIn = await request('identity.magic_link.verify', {
      project_id: P,
      token: tokenFrom(address, 'magic_link'),
    });
    assert.equal(signedIn.user.id, guest.id);
    assert.equal(signedIn.user.has_password, false);
    assert.ok(callsFor(guest.id).some((c) => c.subject === 'session.user.revoke'));
  });

  test('a magic link to a proven address keeps the password and ends no session', async () => {
    const address = email('proven');
    const user = await verified(address);
    await request('identity.magic_link.send', { project_id: P, email: address });
    const signedIn = await request('identity.magic_link.verify', {
      project_id: P,
      token: tokenFrom(address, 'magic_link'),
    });
    assert.equal(signedIn.user.has_password, true);
    assert.deepEqual(signedIn.session_ids, []);
    assert.deepEqual(callsFor(user.id), []);
  });

  test('a magic link whose peers cannot be reached is not used up', async () => {
    const address = email('magic-down');
    await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    await request('identity.magic_link.send', { project_id: P, email: address });
    const token = tokenFrom(address, 'magic_link');
    identity.peersDown = true;
    try {
      await rejectsWith(request('identity.magic_link.verify', { project_id: P, token }), 'service_unavailable');
    } finally {
      identity.peersDown = false;
    }
    await request('identity.user.authenticate', { project_id: P, email: address, password: PASSWORD });
    const { user } = await request('identity.magic_link.verify', { project_id: P, token });
    assert.equal(user.has_password, false);
  });

  test('a step-up checks the signed-in user’s own password', async () => {
    const address = email('stepup');
    const { user } = await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    await request('identity.password.verify', { project_id: P, user_id: user.id, password: PASSWORD });
    await rejectsWith(
      request('identity.password.verify', { project_id: P, user_id: user.id, password: 'wrong password' }),
      'invalid_credentials',
    );
    const { user: guest } = await request('identity.guest.create', { project_id: P });
    await rejectsWith(
      request('identity.password.verify', { project_id: P, user_id: guest.id, password: PASSWORD }),
      'invalid_credentials',
    );
  });

  test('a sign-in method added is mailed to the user', async () => {
    const address = email('factor');
    const { user } = await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    await request('identity.notice.factor_added', {
      project_id: P,
      user_id: user.id,
      factor: 'passkey',
      name: 'YubiKey',
      ip: '203.0.113.5',
    });
    const mail = identity.mails.filter((m) => m.to === address).at(-1);
    assert.equal(mail?.template, 'factor_added');
    assert.equal(mail?.vars.factor, 'A passkey');
    assert.equal(mail?.vars.factor_name, 'YubiKey');
    assert.equal(mail?.vars.ip, '203.0.113.5');
  });
});
