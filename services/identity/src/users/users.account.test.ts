import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type UserRecord } from '@gatehouse/contracts';
import { newId } from '@gatehouse/kit';
import { startTestIdentity, type TestIdentity } from '../app.test-support.ts';

const PASSWORD = 'first password';

describe('identity account operations', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity();
  });
  after(() => identity?.close());

  const newUser = async (): Promise<UserRecord & { address: string }> => {
    const address = `acct-${newId()}@example.test`;
    const { user } = await identity.bus.request('identity.user.register', {
      project_id: P,
      email: address,
      password: PASSWORD,
    });
    return { ...user, address };
  };
  const lastEvent = () => identity.published.at(-1);

  test('gets a user by id; an unknown id is not_found', async () => {
    const user = await newUser();
    const { user: got } = await identity.bus.request('identity.user.get', { project_id: P, user_id: user.id });
    assert.equal(got.id, user.id);
    assert.equal(got.email, user.address);
    await assert.rejects(identity.bus.request('identity.user.get', { project_id: P, user_id: newId() }), {
      code: 'not_found',
    });
  });

  test('updates name and avatar, clears them with null, merges metadata and publishes user.updated', async () => {
    const user = await newUser();
    const update = (fields: Record<string, unknown>) =>
      identity.bus.request('identity.user.update', { project_id: P, user_id: user.id, ...fields });
    const first = await update({ name: 'Ann', avatar_url: 'https://img.test/a.png', metadata: { a: 1, b: { c: 2 } } });
    assert.equal(first.user.name, 'Ann');
    assert.equal(first.user.avatar_url, 'https://img.test/a.png');
    assert.deepEqual(lastEvent(), { subject: 'events.user.updated', data: { v: 1, project_id: P, user_id: user.id } });

    const second = await update({ avatar_url: null, metadata: { a: null, d: 'x' } });
    assert.equal(second.user.name, 'Ann', 'absent fields stay');
    assert.equal(second.user.avatar_url, null);
    assert.deepEqual(second.user.metadata, { b: { c: 2 }, d: 'x' });
    assert.ok(second.user.updated_at >= first.user.updated_at);
  });

  test('metadata over 16 KiB is validation_failed and changes nothing', async () => {
    const user = await newUser();
    await assert.rejects(
      identity.bus.request('identity.user.update', {
        project_id: P,
        user_id: user.id,
        name: 'never stored',
        metadata: { blob: 'z'.repeat(16 * 1024) },
      }),
      { code: 'validation_failed' },
    );
    const { user: got } = await identity.bus.request('identity.user.get', { project_id: P, user_id: user.id });
    assert.equal(got.name, null);
    assert.deepEqual(got.metadata, {});
  });

  test('updating an unknown user is not_found', async () => {
    await assert.rejects(identity.bus.request('identity.user.update', { project_id: P, user_id: newId(), name: 'x' }), {
      code: 'not_found',
    });
  });

  test('deleting needs the password: none or a wrong one is invalid_credentials, even with a fresh sign-in', async () => {
    const user = await newUser();
    const remove = (password?: string) =>
      identity.bus.request('identity.user.delete', {
        project_id: P,
        user_id: user.id,
        fresh_sign_in: true,
        ...(password !== undefined ? { password } : {}),
      });
    await assert.rejects(remove(), { code: 'invalid_credentials' });
    await assert.rejects(remove('wrong password'), { code: 'invalid_credentials' });
    assert.deepEqual(await remove(PASSWORD), {});
    assert.deepEqual(lastEvent(), { subject: 'events.user.deleted', data: { v: 1, project_id: P, user_id: user.id } });
    await assert.rejects(identity.bus.request('identity.user.get', { project_id: P, user_id: user.id }), {
      code: 'not_found',
    });
    await assert.rejects(
      identity.bus.request('identity.user.authenticate', { project_id: P, email: user.address, password: PASSWORD }),
      { code: 'invalid_credentials' },
    );
    await assert.rejects(remove(PASSWORD), { code: 'not_found' });
  });

  test('a user without a password is deleted only after a fresh sign-in', async () => {
    const { user } = await identity.bus.request('identity.guest.create', { project_id: P });
    const remove = (fresh: boolean) =>
      identity.bus.request('identity.user.delete', { project_id: P, user_id: user.id, fresh_sign_in: fresh });
    await assert.rejects(remove(false), { code: 'invalid_credentials' });
    assert.deepEqual(await remove(true), {});
    await assert.rejects(identity.bus.request('identity.user.get', { project_id: P, user_id: user.id }), {
      code: 'not_found',
    });
  });
});
