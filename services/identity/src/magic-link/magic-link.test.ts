import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type RequestOf } from '@gatehouse/contracts';
import { newId, type RequestSubjectName } from '@gatehouse/kit';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';

// An address proven for the first time may take an account from whoever set it up: the session
// and mfa services are stand-ins here (the harness records what identity asked of them);
// tests/e2e runs the same flows against the real ones.

const email = (tag: string) => `${tag}-${newId()}@example.test`;
const PASSWORD = 'correct horse battery';

describe('identity magic links', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ PUBLIC_URL: 'https://auth.example.test' });
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

  test('a magic link signs up an unknown address, verified and without a password, once', async () => {
    const address = email('magic-new');
    await request('identity.magic_link.send', { project_id: P, email: address });
    const mail = identity.mailsTo(address).at(-1);
    assert.equal(mail?.template, 'magic_link');
    assert.equal(mail?.vars.expires_in, '15 minutes');
    const token = identity.tokenFrom(address, 'magic_link');
    const { user, created } = await request('identity.magic_link.verify', { project_id: P, token });
    assert.equal(created, true);
    assert.equal(user.email, address);
    assert.equal(user.email_verified, true);
    assert.equal(user.has_password, false);
    assert.equal(user.role, 'user');
    assert.ok(identity.published.some((e) => e.subject === 'events.user.created' && e.data.user_id === user.id));
    await rejectsWith(request('identity.magic_link.verify', { project_id: P, token }), 'invalid_one_time_token');
  });

  test('a magic link signs in a known user and verifies the address', async () => {
    const address = email('magic-known');
    const { user } = await register(address);
    await request('identity.magic_link.send', { project_id: P, email: address });
    const signedIn = await request('identity.magic_link.verify', {
      project_id: P,
      token: identity.tokenFrom(address, 'magic_link'),
    });
    assert.equal(signedIn.created, false);
    assert.equal(signedIn.user.id, user.id);
    assert.equal(signedIn.user.email_verified, true);
  });

  test('a magic link for a user deleted since is invalid_one_time_token, and an expired one too', async () => {
    const address = email('magic-gone');
    const { user } = await register(address);
    await request('identity.magic_link.send', { project_id: P, email: address });
    const token = identity.tokenFrom(address, 'magic_link');
    await identity.database.db.deleteFrom('users').where('id', '=', user.id).execute();
    await rejectsWith(request('identity.magic_link.verify', { project_id: P, token }), 'invalid_one_time_token');

    const other = email('magic-expired');
    await request('identity.magic_link.send', { project_id: P, email: other });
    const expired = identity.tokenFrom(other, 'magic_link');
    await identity.expireToken(expired);
    await rejectsWith(
      request('identity.magic_link.verify', { project_id: P, token: expired }),
      'invalid_one_time_token',
    );
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
      token: identity.tokenFrom(address, 'magic_link'),
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
      token: identity.tokenFrom(address, 'magic_link'),
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
      token: identity.tokenFrom(address, 'magic_link'),
    });
    assert.equal(signedIn.user.has_password, true);
    assert.deepEqual(signedIn.session_ids, []);
    assert.deepEqual(callsFor(user.id), []);
  });

  test('a magic link whose peers cannot be reached is not used up', async () => {
    const address = email('magic-down');
    await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    await request('identity.magic_link.send', { project_id: P, email: address });
    const token = identity.tokenFrom(address, 'magic_link');
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
});
