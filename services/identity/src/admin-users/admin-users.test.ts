import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { UserRecord } from '@gatehouse/contracts';
import { newId, newProjectKeys } from '@gatehouse/kit';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';

const PASSWORD = 'a long enough password';

describe('identity.admin.user.*', () => {
  let identity: TestIdentity;
  /** A project of its own, so the lists hold only this test's users. */
  let P: string;
  before(async () => {
    identity = await startTestIdentity();
    P = newId();
    await identity.database.db
      .insertInto('projects')
      .values({ id: P, name: 'Admin tests', publishable_key: newProjectKeys().publishable_key })
      .execute();
  });
  after(() => identity?.close());

  const register = async (tag: string, name?: string): Promise<UserRecord> =>
    (
      await identity.bus.request('identity.user.register', {
        project_id: P,
        email: `${tag}-${newId()}@example.test`,
        password: PASSWORD,
        ...(name ? { name } : {}),
      })
    ).user;
  const update = (user_id: string, fields: Record<string, unknown>) =>
    identity.bus.request('identity.admin.user.update', { project_id: P, user_id, ...fields });

  test('lists newest first in pages whose cursor leads on, and to null at the end; searches', async () => {
    const made: UserRecord[] = [];
    for (let i = 0; i < 5; i++) made.push(await register(`page${i}`, i % 2 === 0 ? 'Even Page' : 'Odd Page'));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await identity.bus.request('identity.admin.user.list', {
        project_id: P,
        limit: 2,
        search: 'page',
        ...(cursor ? { cursor } : {}),
      });
      seen.push(...res.users.map((u) => u.id));
      if (res.next_cursor === null) break;
      cursor = res.next_cursor;
    }
    assert.deepEqual(seen, made.map((u) => u.id).reverse());
    const odd = await identity.bus.request('identity.admin.user.list', { project_id: P, limit: 10, search: 'odd' });
    assert.deepEqual(
      odd.users.map((u) => u.id),
      [made[3], made[1]].map((u) => u?.id),
    );
    assert.equal(odd.next_cursor, null);
    // Another project's users are not listed, whatever the search.
    const elsewhere = await identity.bus.request('identity.admin.user.list', { project_id: newId(), limit: 10 });
    assert.deepEqual(elsewhere.users, []);
  });

  test('a cursor it did not give out is validation_failed', async () => {
    for (const cursor of ['nonsense', Buffer.from('1 or 1=1').toString('base64url')]) {
      await rejectsWith(
        identity.bus.request('identity.admin.user.list', { project_id: P, limit: 5, cursor }),
        'validation_failed',
      );
    }
  });

  test('changes role, ban, name, verification and metadata, and publishes user.updated', async () => {
    const user = await register('change');
    const { user: changed } = await update(user.id, {
      role: 'admin',
      banned: true,
      name: 'Renamed',
      email_verified: true,
      metadata: { plan: 'pro' },
    });
    assert.equal(changed.role, 'admin');
    assert.equal(changed.banned, true);
    assert.equal(changed.name, 'Renamed');
    assert.equal(changed.email_verified, true);
    assert.deepEqual(changed.metadata, { plan: 'pro' });
    assert.deepEqual(identity.published.at(-1), {
      subject: 'events.user.updated',
      data: { v: 1, project_id: P, user_id: user.id },
    });
    // A banned user's right password is refused as banned.
    await rejectsWith(
      identity.bus.request('identity.user.authenticate', {
        project_id: P,
        email: user.email ?? '',
        password: PASSWORD,
      }),
      'user_banned',
    );
    await update(user.id, { banned: false });
    const { user: back } = await identity.bus.request('identity.user.authenticate', {
      project_id: P,
      email: user.email ?? '',
      password: PASSWORD,
    });
    assert.equal(back.id, user.id);
  });

  test('refuses a role for a guest and a verified flag without an email; an unknown user is not_found', async () => {
    const { user: guest } = await identity.bus.request('identity.guest.create', { project_id: P });
    await rejectsWith(update(guest.id, { role: 'admin' }), 'validation_failed');
    await rejectsWith(update(guest.id, { email_verified: true }), 'validation_failed');
    assert.equal((await update(guest.id, { banned: true })).user.banned, true);
    await rejectsWith(update(newId(), { name: 'x' }), 'not_found');
    // A user of another project is not found in this one.
    await rejectsWith(
      identity.bus.request('identity.admin.user.update', { project_id: newId(), user_id: guest.id, name: 'x' }),
      'not_found',
    );
  });

  test('the last admin who can sign in cannot be demoted, banned or deleted: last_admin', async () => {
    const project = newId();
    await identity.database.db
      .insertInto('projects')
      .values({ id: project, name: 'One admin', publishable_key: newProjectKeys().publishable_key })
      .execute();
    const { user } = await identity.bus.request('identity.user.register', {
      project_id: project,
      email: `only-${newId()}@example.test`,
      password: PASSWORD,
    });
    const at = (fields: Record<string, unknown>) =>
      identity.bus.request('identity.admin.user.update', { project_id: project, user_id: user.id, ...fields });
    await at({ role: 'admin' });
    await rejectsWith(at({ role: 'user' }), 'last_admin');
    await rejectsWith(at({ banned: true }), 'last_admin');
    await rejectsWith(
      identity.bus.request('identity.admin.user.delete', { project_id: project, user_id: user.id }),
      'last_admin',
    );
    const { user: still } = await identity.bus.request('identity.user.get', { project_id: project, user_id: user.id });
    assert.equal(still.role, 'admin');
    assert.equal(still.banned, false);
  });

  test('deletes without the password, publishes user.deleted; a second delete is not_found', async () => {
    const user = await register('gone');
    await identity.bus.request('identity.admin.user.delete', { project_id: P, user_id: user.id });
    assert.deepEqual(identity.published.at(-1), {
      subject: 'events.user.deleted',
      data: { v: 1, project_id: P, user_id: user.id },
    });
    await rejectsWith(identity.bus.request('identity.user.get', { project_id: P, user_id: user.id }), 'not_found');
    await rejectsWith(
      identity.bus.request('identity.admin.user.delete', { project_id: P, user_id: user.id }),
      'not_found',
    );
  });
});
