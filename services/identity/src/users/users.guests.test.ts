import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P } from '@gatehouse/contracts';
import { newId } from '@gatehouse/kit';
import { startTestIdentity, type TestIdentity } from '../app.test-support.ts';

describe('identity guests', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity();
  });
  after(() => identity?.close());

  const createGuest = (name?: string) =>
    identity.bus.request('identity.guest.create', { project_id: P, ...(name !== undefined ? { name } : {}) });
  const convert = (userId: string, email: string, name?: string) =>
    identity.bus.request('identity.guest.convert', {
      project_id: P,
      user_id: userId,
      email,
      password: 'guest no more',
      ...(name !== undefined ? { name } : {}),
    });

  test('creates a guest with no email and no password, and publishes user.created', async () => {
    const { user } = await createGuest('Visitor');
    assert.equal(user.role, 'guest');
    assert.equal(user.email, null);
    assert.equal(user.has_password, false);
    assert.equal(user.name, 'Visitor');
    assert.deepEqual(identity.published.at(-1), {
      subject: 'events.user.created',
      data: { v: 1, project_id: P, user_id: user.id, email: null, role: 'guest' },
    });
  });

  test('converts a guest into a user with the same id, who then signs in with the password', async () => {
    const { user: guest } = await createGuest();
    const address = `Convert-${newId()}@Example.test`;
    const { user } = await convert(guest.id, address, 'Now Named');
    assert.equal(user.id, guest.id);
    assert.equal(user.role, 'user');
    assert.equal(user.email, address.toLowerCase());
    assert.equal(user.has_password, true);
    assert.equal(user.name, 'Now Named');
    assert.deepEqual(identity.published.at(-1), {
      subject: 'events.user.updated',
      data: { v: 1, project_id: P, user_id: guest.id },
    });
    const signedIn = await identity.bus.request('identity.user.authenticate', {
      project_id: P,
      email: address,
      password: 'guest no more',
    });
    assert.equal(signedIn.user.id, guest.id);
  });

  test('converting to a taken email is email_taken, and the guest stays a guest', async () => {
    const address = `owner-${newId()}@example.test`;
    await identity.bus.request('identity.user.register', { project_id: P, email: address, password: 'owner password' });
    const { user: guest } = await createGuest();
    await assert.rejects(convert(guest.id, address.toUpperCase()), { code: 'email_taken' });
    const { user } = await identity.bus.request('identity.user.get', { project_id: P, user_id: guest.id });
    assert.equal(user.role, 'guest');
    assert.equal(user.email, null);
  });

  test('only a guest can be converted: a user is forbidden, an unknown id not_found', async () => {
    const { user } = await identity.bus.request('identity.user.register', {
      project_id: P,
      email: `real-${newId()}@example.test`,
      password: 'real password',
    });
    await assert.rejects(convert(user.id, `other-${newId()}@example.test`), { code: 'forbidden' });
    await assert.rejects(convert(newId(), `ghost-${newId()}@example.test`), { code: 'not_found' });
    // A converted guest is a user now, so converting it again is forbidden too.
    const { user: guest } = await createGuest();
    await convert(guest.id, `once-${newId()}@example.test`);
    await assert.rejects(convert(guest.id, `twice-${newId()}@example.test`), { code: 'forbidden' });
  });
});
