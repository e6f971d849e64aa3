import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P } from '@gatehouse/contracts';
import { isAppError, newId } from '@gatehouse/kit';
import { startTestIdentity, type TestIdentity } from '../app.test-support.ts';

describe('identity: the MFA flag and finding a user by email', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity();
  });
  after(() => identity?.close());

  test('set_mfa turns the flag on and off, and the user record shows it', async () => {
    const email = `mfa-${newId()}@example.test`;
    const { user } = await identity.bus.request('identity.user.register', {
      project_id: P,
      email,
      password: 'correct horse battery',
    });
    assert.equal(user.mfa_enabled, false);
    const on = await identity.bus.request('identity.user.set_mfa', {
      project_id: P,
      user_id: user.id,
      mfa_enabled: true,
    });
    assert.equal(on.user.mfa_enabled, true);
    const signedIn = await identity.bus.request('identity.user.authenticate', {
      project_id: P,
      email,
      password: 'correct horse battery',
    });
    assert.equal(signedIn.user.mfa_enabled, true);
    assert.ok(identity.published.some((e) => e.subject === 'events.user.updated' && e.data.user_id === user.id));
    const off = await identity.bus.request('identity.user.set_mfa', {
      project_id: P,
      user_id: user.id,
      mfa_enabled: false,
    });
    assert.equal(off.user.mfa_enabled, false);
    await assert.rejects(
      identity.bus.request('identity.user.set_mfa', { project_id: P, user_id: newId(), mfa_enabled: true }),
      (err) => isAppError(err, 'not_found'),
    );
  });

  test('find answers the user for its email in any case, and null for an unknown one', async () => {
    const email = `find-${newId()}@example.test`;
    const { user } = await identity.bus.request('identity.user.register', {
      project_id: P,
      email,
      password: 'correct horse battery',
    });
    const found = await identity.bus.request('identity.user.find', {
      project_id: P,
      email: ` ${email.toUpperCase()} `,
    });
    assert.equal(found.user?.id, user.id);
    const missing = await identity.bus.request('identity.user.find', {
      project_id: P,
      email: `nobody-${newId()}@x.test`,
    });
    assert.equal(missing.user, null);
  });
});
