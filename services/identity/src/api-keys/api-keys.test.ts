import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type UserRecord } from '@gatehouse/contracts';
import { apiKeyHash, newId } from '@gatehouse/kit';
import { sql } from 'kysely';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';

const PASSWORD = 'a long enough password';

describe('identity.api_key.*', () => {
  let identity: TestIdentity;
  const revoked: { user_id: string; key_ids: string[] }[] = [];
  before(async () => {
    identity = await startTestIdentity();
    identity.bus.subscribe('events.api_keys.revoked', (e) => {
      revoked.push({ user_id: e.user_id, key_ids: e.key_ids });
    });
  });
  after(() => identity?.close());

  const register = async (): Promise<UserRecord> =>
    (
      await identity.bus.request('identity.user.register', {
        project_id: P,
        email: `keys-${newId()}@example.test`,
        password: PASSWORD,
      })
    ).user;
  const create = (user_id: string, name = 'ci', expires_in_days?: number) =>
    identity.bus.request('identity.api_key.create', {
      project_id: P,
      user_id,
      name,
      ...(expires_in_days ? { expires_in_days } : {}),
    });
  const verify = (key: string) => identity.bus.request('identity.api_key.verify', { key_hash: apiKeyHash(key) });

  test('a key is shown once, stored only as its hash, and verifies as its user with the current role', async () => {
    const user = await register();
    const { api_key, key } = await create(user.id, 'deploy', 30);
    assert.match(key, /^uk_[A-Za-z0-9_-]{43}$/);
    assert.equal(api_key.prefix, key.slice(0, 11));
    assert.equal(api_key.name, 'deploy');
    assert.ok(Date.parse(api_key.expires_at ?? '') > Date.now() + 29 * 86_400_000);
    const rows = await identity.database.db.selectFrom('api_keys').selectAll().where('user_id', '=', user.id).execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.key_hash, apiKeyHash(key));
    assert.ok(!JSON.stringify(rows).includes(key.slice(3)), 'the key itself is nowhere in the row');
    assert.deepEqual(await verify(key), {
      key_id: api_key.id,
      project_id: P,
      user_id: user.id,
      role: 'user',
      expires_at: api_key.expires_at,
    });
    await identity.bus.request('identity.admin.user.update', { project_id: P, user_id: user.id, role: 'admin' });
    assert.equal((await verify(key)).role, 'admin');
    const { api_keys } = await identity.bus.request('identity.api_key.list', { project_id: P, user_id: user.id });
    assert.deepEqual(api_keys, [api_key]);
  });

  test('refused the same way: unknown, revoked, expired, or the user banned', async () => {
    const user = await register();
    await rejectsWith(verify('uk_unknown'), 'unauthorized');
    const revokedKey = await create(user.id);
    await identity.bus.request('identity.api_key.revoke', {
      project_id: P,
      user_id: user.id,
      key_id: revokedKey.api_key.id,
    });
    await rejectsWith(verify(revokedKey.key), 'unauthorized');
    assert.deepEqual(revoked.at(-1), { user_id: user.id, key_ids: [revokedKey.api_key.id] });

    const expired = await create(user.id, 'short', 1);
    await sql`update api_keys set expires_at = now() - interval '1 second' where id = ${expired.api_key.id}`.execute(
      identity.database.db,
    );
    await rejectsWith(verify(expired.key), 'unauthorized');

    const live = await create(user.id);
    await identity.bus.request('identity.admin.user.update', { project_id: P, user_id: user.id, banned: true });
    await rejectsWith(verify(live.key), 'unauthorized');
    await identity.bus.request('identity.admin.user.update', { project_id: P, user_id: user.id, banned: false });
    assert.equal((await verify(live.key)).key_id, live.api_key.id);
    // The list leaves the revoked key out, and keeps the expired one (to be seen and removed).
    const { api_keys } = await identity.bus.request('identity.api_key.list', { project_id: P, user_id: user.id });
    assert.deepEqual(api_keys.map((k) => k.id).sort(), [expired.api_key.id, live.api_key.id].sort());
  });

  test("revoking another user's key, or one twice, is not_found; guests cannot make keys", async () => {
    const a = await register();
    const b = await register();
    const { api_key } = await create(a.id);
    await rejectsWith(
      identity.bus.request('identity.api_key.revoke', { project_id: P, user_id: b.id, key_id: api_key.id }),
      'not_found',
    );
    await identity.bus.request('identity.api_key.revoke', { project_id: P, user_id: a.id, key_id: api_key.id });
    await rejectsWith(
      identity.bus.request('identity.api_key.revoke', { project_id: P, user_id: a.id, key_id: api_key.id }),
      'not_found',
    );
    const { user: guest } = await identity.bus.request('identity.guest.create', { project_id: P });
    await rejectsWith(create(guest.id), 'forbidden');
    await rejectsWith(create(newId()), 'not_found');
  });

  test('uses arrive in batches; an older use never overwrites a newer one', async () => {
    const user = await register();
    const { api_key } = await create(user.id);
    const later = '2030-01-01T00:00:10.000Z';
    await identity.bus.request('identity.api_key.touch', { uses: [{ key_id: api_key.id, at: later }] });
    await identity.bus.request('identity.api_key.touch', {
      uses: [
        { key_id: api_key.id, at: '2030-01-01T00:00:05.000Z' },
        { key_id: newId(), at: later },
      ],
    });
    const { api_keys } = await identity.bus.request('identity.api_key.list', { project_id: P, user_id: user.id });
    assert.equal(api_keys[0]?.last_used_at, later);
  });

  test('a password reset revokes every key of the user, and says so', async () => {
    const user = await register();
    const keys = [await create(user.id), await create(user.id)];
    await identity.bus.request('identity.password.forgot', { project_id: P, email: user.email ?? '' });
    const token = identity.tokenFrom(user.email ?? '', 'reset_password');
    await identity.bus.request('identity.password.reset', { project_id: P, token, password: 'a new long password' });
    for (const { key } of keys) await rejectsWith(verify(key), 'unauthorized');
    assert.deepEqual(revoked.at(-1)?.key_ids.sort(), keys.map((k) => k.api_key.id).sort());
    assert.deepEqual(
      (await identity.bus.request('identity.api_key.list', { project_id: P, user_id: user.id })).api_keys,
      [],
    );
  });
});
