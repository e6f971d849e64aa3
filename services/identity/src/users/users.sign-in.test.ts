import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P } from '@gatehouse/contracts';
import { newId } from '@gatehouse/kit';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';
import { PostgresUsersStore } from './users.store.ts';

const email = (tag: string) => `${tag}-${newId()}@example.test`;
const PASSWORD = 'correct horse battery';

describe('identity sign-up and sign-in', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity();
  });
  after(() => identity?.close());

  const register = (address: string, password = PASSWORD) =>
    identity.bus.request('identity.user.register', { project_id: P, email: address, password });
  const authenticate = (address: string, password: string) =>
    identity.bus.request('identity.user.authenticate', { project_id: P, email: address, password });

  test('registers a user and signs it in with the same password', async () => {
    const address = email('Alice');
    const { user } = await identity.bus.request('identity.user.register', {
      project_id: P,
      email: `  ${address.toUpperCase()} `,
      password: PASSWORD,
      name: 'Alice',
      metadata: { plan: 'free' },
    });
    assert.equal(user.email, address.toLowerCase());
    assert.equal(user.role, 'user');
    assert.equal(user.email_verified, false);
    assert.equal(user.has_password, true);
    assert.equal(user.mfa_enabled, false);
    assert.equal(user.banned, false);
    assert.equal(user.project_id, P);
    assert.deepEqual(user.metadata, { plan: 'free' });
    assert.match(user.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(!JSON.stringify(user).includes('argon2'), 'the hash never leaves identity');

    const signedIn = await authenticate(address.toUpperCase(), PASSWORD);
    assert.deepEqual(signedIn.user, user);
  });

  test('stores an argon2id hash with the configured parameters', async () => {
    const { user } = await register(email('hash'));
    const row = await identity.database.db.selectFrom('users').selectAll().where('id', '=', user.id).executeTakeFirst();
    assert.match(row?.password_hash ?? '', /^\$argon2id\$v=19\$m=8192,t=1,p=1\$/);
  });

  test('publishes user.created with the email and role', async () => {
    const { user } = await register(email('event'));
    assert.deepEqual(identity.published.at(-1), {
      subject: 'events.user.created',
      data: { v: 1, project_id: P, user_id: user.id, email: user.email, role: 'user' },
    });
  });

  test('a taken email is email_taken in any case variation', async () => {
    const address = email('taken');
    await register(address);
    for (const variant of [address, address.toUpperCase(), ` ${address} `]) {
      await assert.rejects(register(variant), { code: 'email_taken' });
    }
  });

  test('wrong password and unknown email give the same invalid_credentials answer', async () => {
    const address = email('known');
    await register(address);
    const wrong = await authenticate(address, 'not the password').catch((err) => err);
    const unknown = await authenticate(email('unknown'), PASSWORD).catch((err) => err);
    assert.equal(wrong.code, 'invalid_credentials');
    assert.equal(unknown.code, 'invalid_credentials');
    assert.equal(wrong.message, unknown.message);
    assert.equal(wrong.message, 'invalid email or password');
  });

  test('a user without a password (e.g. magic link only) is invalid_credentials for any password', async () => {
    const address = email('passwordless');
    await new PostgresUsersStore(identity.database.db).create({
      projectId: P,
      email: address,
      passwordHash: null,
      role: 'user',
    });
    await assert.rejects(authenticate(address, PASSWORD), { code: 'invalid_credentials' });
    await assert.rejects(authenticate(address, ''), { code: 'invalid_credentials' });
  });

  test('a banned user is user_banned, but only with the right password', async () => {
    const address = email('banned');
    const { user } = await register(address);
    await identity.database.db.updateTable('users').set({ banned: true }).where('id', '=', user.id).execute();
    await assert.rejects(authenticate(address, 'not the password'), { code: 'invalid_credentials' });
    await assert.rejects(authenticate(address, PASSWORD), { code: 'user_banned' });
  });

  test('an unverified email signs in while verification is not required', async () => {
    const address = email('unverified-ok');
    await register(address);
    assert.equal((await authenticate(address, PASSWORD)).user.email_verified, false);
  });

  test('a step-up checks the signed-in user’s own password', async () => {
    const address = email('stepup');
    const { user } = await register(address);
    await identity.bus.request('identity.password.verify', { project_id: P, user_id: user.id, password: PASSWORD });
    await rejectsWith(
      identity.bus.request('identity.password.verify', {
        project_id: P,
        user_id: user.id,
        password: 'wrong password',
      }),
      'invalid_credentials',
    );
    const { user: guest } = await identity.bus.request('identity.guest.create', { project_id: P });
    await rejectsWith(
      identity.bus.request('identity.password.verify', { project_id: P, user_id: guest.id, password: PASSWORD }),
      'invalid_credentials',
    );
  });
});

describe('identity sign-in with REQUIRE_EMAIL_VERIFICATION', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ REQUIRE_EMAIL_VERIFICATION: 'true' });
  });
  after(() => identity?.close());

  test('refuses an unverified email with the right password, then admits it once verified', async () => {
    const address = email('verify');
    const { user } = await identity.bus.request('identity.user.register', {
      project_id: P,
      email: address,
      password: PASSWORD,
    });
    const attempt = () =>
      identity.bus.request('identity.user.authenticate', { project_id: P, email: address, password: PASSWORD });
    await assert.rejects(
      identity.bus.request('identity.user.authenticate', { project_id: P, email: address, password: 'wrong pass' }),
      { code: 'invalid_credentials' },
    );
    await assert.rejects(attempt(), { code: 'email_not_verified' });
    await identity.database.db.updateTable('users').set({ email_verified: true }).where('id', '=', user.id).execute();
    assert.equal((await attempt()).user.id, user.id);
  });
});

describe('identity rehashing', () => {
  test('rehashes a password made with older parameters at the next sign-in', async () => {
    const old = await startTestIdentity();
    const current = await startTestIdentity({ PASSWORD_HASH: 'argon2id:m=9216,t=2,p=1' }, old.database);
    try {
      const address = email('rehash');
      const { user } = await old.bus.request('identity.user.register', {
        project_id: P,
        email: address,
        password: PASSWORD,
      });
      await current.bus.request('identity.user.authenticate', { project_id: P, email: address, password: PASSWORD });
      const row = await old.database.db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', user.id)
        .executeTakeFirst();
      assert.match(row?.password_hash ?? '', /\$m=9216,t=2,p=1\$/);
      // The new hash still verifies, on either instance.
      await old.bus.request('identity.user.authenticate', { project_id: P, email: address, password: PASSWORD });
    } finally {
      await current.close();
      await old.close();
    }
  });
});
