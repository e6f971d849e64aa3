import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type RequestOf } from '@gatehouse/contracts';
import { isAppError, newId, type RequestSubjectName } from '@gatehouse/kit';
import { sql } from 'kysely';
import { startTestIdentity, type TestIdentity } from '../app.test-support.ts';

const email = (tag: string) => `${tag}-${newId()}@example.test`;
const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (err) => isAppError(err, code as never));

describe('identity email flows', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ PUBLIC_URL: 'https://auth.example.test' });
  });
  after(() => identity?.close());

  const request = <S extends RequestSubjectName>(subject: S, data: RequestOf<S>) => identity.bus.request(subject, data);
  const register = (address: string, redirectTo?: string) =>
    request('identity.user.register', {
      project_id: P,
      email: address,
      password: PASSWORD,
      name: 'Ada <b>',
      ...(redirectTo ? { redirect_to: redirectTo } : {}),
    });
  const mailsTo = (address: string) => identity.mails.filter((m) => m.to === address.toLowerCase());
  /** The token of the last link mailed to `address` with that template. */
  const tokenFrom = (address: string, template: string) => {
    const mail = mailsTo(address)
      .filter((m) => m.template === template)
      .at(-1);
    assert.ok(mail, `a ${template} mail to ${address}`);
    const link = new URL(mail.vars.link ?? '');
    assert.equal(link.searchParams.get('type'), template);
    return link.searchParams.get('token') ?? '';
  };
  const expire = (token: string) =>
    sql`update one_time_tokens set expires_at = now() - interval '1 second' where token_hash = ${createHash('sha256').update(token).digest('hex')}`.execute(
      identity.database.db,
    );

  test('register mails a verification link to PUBLIC_URL/auth/confirm, and the link verifies once', async () => {
    const address = email('verify');
    const { user } = await register(address);
    const [mail] = mailsTo(address);
    assert.ok(mail);
    assert.equal(mail.template, 'verify_email');
    assert.equal(mail.project_id, P);
    assert.equal(mail.vars.name, 'Ada <b>');
    assert.equal(mail.vars.expires_in, '24 hours');
    const link = new URL(mail.vars.link ?? '');
    assert.equal(`${link.origin}${link.pathname}`, 'https://auth.example.test/auth/confirm');
    const token = tokenFrom(address, 'verify_email');
    assert.match(token, /^[A-Za-z0-9_-]{43}$/); // 256 bits

    const verified = await request('identity.email.verify', { project_id: P, token });
    assert.equal(verified.user.id, user.id);
    assert.equal(verified.user.email_verified, true);
    assert.ok(identity.published.some((e) => e.subject === 'events.user.updated' && e.data.user_id === user.id));
    await rejectsWith(request('identity.email.verify', { project_id: P, token }), 'invalid_token');
  });

  test('a token is stored only as its hash', async () => {
    const address = email('hash');
    await register(address);
    const token = tokenFrom(address, 'verify_email');
    const rows = await identity.database.db
      .selectFrom('one_time_tokens')
      .selectAll()
      .where('email', '=', address)
      .execute();
    assert.equal(rows.length, 1);
    assert.notEqual(rows[0]?.token_hash, token);
    assert.ok(!JSON.stringify(rows).includes(token));
  });

  test('links lead to the given redirect_to, keeping its own query', async () => {
    const address = email('redirect');
    await register(address, 'https://app.example.test/welcome?from=signup');
    const link = new URL(mailsTo(address)[0]?.vars.link ?? '');
    assert.equal(link.origin + link.pathname, 'https://app.example.test/welcome');
    assert.equal(link.searchParams.get('from'), 'signup');
    assert.ok(link.searchParams.get('token'));
  });

  test('an expired, unknown or wrong-purpose token is invalid_token', async () => {
    const address = email('expired');
    await register(address);
    const token = tokenFrom(address, 'verify_email');
    await rejectsWith(request('identity.magic_link.verify', { project_id: P, token }), 'invalid_token');
    await rejectsWith(
      request('identity.password.reset', { project_id: P, token, password: NEW_PASSWORD }),
      'invalid_token',
    );
    await expire(token);
    await rejectsWith(request('identity.email.verify', { project_id: P, token }), 'invalid_token');
    await rejectsWith(request('identity.email.verify', { project_id: P, token: 'x'.repeat(43) }), 'invalid_token');
  });

  test('a verification link does not verify an address set after it was sent', async () => {
    const address = email('moved');
    const { user } = await register(address);
    const token = tokenFrom(address, 'verify_email');
    await identity.database.db
      .updateTable('users')
      .set({ email: email('other') })
      .where('id', '=', user.id)
      .execute();
    await rejectsWith(request('identity.email.verify', { project_id: P, token }), 'invalid_token');
  });

  test('resend mails a new link and retires the old one; a verified address gets nothing', async () => {
    const address = email('resend');
    const { user } = await register(address);
    const first = tokenFrom(address, 'verify_email');
    await request('identity.email.resend', { project_id: P, user_id: user.id });
    const second = tokenFrom(address, 'verify_email');
    assert.notEqual(first, second);
    await rejectsWith(request('identity.email.verify', { project_id: P, token: first }), 'invalid_token');
    await request('identity.email.verify', { project_id: P, token: second });
    const before = mailsTo(address).length;
    await request('identity.email.resend', { project_id: P, user_id: user.id });
    assert.equal(mailsTo(address).length, before);
  });

  test('forgot mails a reset link to a known address and nothing to an unknown one', async () => {
    const unknown = email('nobody');
    await request('identity.password.forgot', { project_id: P, email: unknown });
    assert.equal(mailsTo(unknown).length, 0);

    const address = email('forgot');
    await register(address);
    await request('identity.password.forgot', { project_id: P, email: `  ${address.toUpperCase()} ` });
    const mail = mailsTo(address).at(-1);
    assert.equal(mail?.template, 'reset_password');
    assert.equal(mail?.vars.expires_in, '1 hour');
  });

  test('reset sets the new password once, verifies the address, and sends the notice', async () => {
    const address = email('reset');
    const { user } = await register(address);
    await request('identity.password.forgot', { project_id: P, email: address });
    const token = tokenFrom(address, 'reset_password');
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
    const notice = mailsTo(address).at(-1);
    assert.equal(notice?.template, 'password_changed');
    assert.equal(notice?.vars.ip, '203.0.113.9');
    await rejectsWith(
      request('identity.password.reset', { project_id: P, token, password: 'yet another password' }),
      'invalid_token',
    );
  });

  test('a newer reset link retires the older one', async () => {
    const address = email('twice');
    await register(address);
    await request('identity.password.forgot', { project_id: P, email: address });
    const older = tokenFrom(address, 'reset_password');
    await request('identity.password.forgot', { project_id: P, email: address });
    await rejectsWith(
      request('identity.password.reset', { project_id: P, token: older, password: NEW_PASSWORD }),
      'invalid_token',
    );
    await request('identity.password.reset', {
      project_id: P,
      token: tokenFrom(address, 'reset_password'),
      password: NEW_PASSWORD,
    });
  });

  test('a banned user gets no reset link and no magic link', async () => {
    const address = email('banned');
    const { user } = await register(address);
    await identity.database.db.updateTable('users').set({ banned: true }).where('id', '=', user.id).execute();
    const before = mailsTo(address).length;
    await request('identity.password.forgot', { project_id: P, email: address });
    await request('identity.magic_link.send', { project_id: P, email: address });
    assert.equal(mailsTo(address).length, before);
  });

  test('a magic link signs up an unknown address, verified and without a password, once', async () => {
    const address = email('magic-new');
    await request('identity.magic_link.send', { project_id: P, email: address });
    const mail = mailsTo(address).at(-1);
    assert.equal(mail?.template, 'magic_link');
    assert.equal(mail?.vars.expires_in, '15 minutes');
    const token = tokenFrom(address, 'magic_link');
    const { user, created } = await request('identity.magic_link.verify', { project_id: P, token });
    assert.equal(created, true);
    assert.equal(user.email, address);
    assert.equal(user.email_verified, true);
    assert.equal(user.has_password, false);
    assert.equal(user.role, 'user');
    assert.ok(identity.published.some((e) => e.subject === 'events.user.created' && e.data.user_id === user.id));
    await rejectsWith(request('identity.magic_link.verify', { project_id: P, token }), 'invalid_token');
  });

  test('a magic link signs in a known user and verifies the address', async () => {
    const address = email('magic-known');
    const { user } = await register(address);
    await request('identity.magic_link.send', { project_id: P, email: address });
    const signedIn = await request('identity.magic_link.verify', {
      project_id: P,
      token: tokenFrom(address, 'magic_link'),
    });
    assert.equal(signedIn.created, false);
    assert.equal(signedIn.user.id, user.id);
    assert.equal(signedIn.user.email_verified, true);
  });

  test('a magic link for a user deleted since is invalid_token, and an expired one too', async () => {
    const address = email('magic-gone');
    const { user } = await register(address);
    await request('identity.magic_link.send', { project_id: P, email: address });
    const token = tokenFrom(address, 'magic_link');
    await identity.database.db.deleteFrom('users').where('id', '=', user.id).execute();
    await rejectsWith(request('identity.magic_link.verify', { project_id: P, token }), 'invalid_token');

    const other = email('magic-expired');
    await request('identity.magic_link.send', { project_id: P, email: other });
    const expired = tokenFrom(other, 'magic_link');
    await expire(expired);
    await rejectsWith(request('identity.magic_link.verify', { project_id: P, token: expired }), 'invalid_token');
  });

  test('two concurrent uses of one token: exactly one succeeds', async () => {
    const address = email('race');
    await request('identity.magic_link.send', { project_id: P, email: address });
    const token = tokenFrom(address, 'magic_link');
    const results = await Promise.allSettled([
      request('identity.magic_link.verify', { project_id: P, token }),
      request('identity.magic_link.verify', { project_id: P, token }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  });

  test('a password change sends the notice', async () => {
    const address = email('change');
    const { user } = await register(address);
    await request('identity.password.change', {
      project_id: P,
      user_id: user.id,
      current_password: PASSWORD,
      new_password: NEW_PASSWORD,
      user_agent: 'Firefox',
    });
    const notice = mailsTo(address).at(-1);
    assert.equal(notice?.template, 'password_changed');
    assert.equal(notice?.vars.user_agent, 'Firefox');
  });
});

describe('identity with REQUIRE_EMAIL_VERIFICATION', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ REQUIRE_EMAIL_VERIFICATION: 'true' });
  });
  after(() => identity?.close());

  test('password sign-in is email_not_verified until the link is used, then succeeds', async () => {
    const address = email('required');
    const bus = identity.bus;
    await bus.request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    const authenticate = (password: string) =>
      bus.request('identity.user.authenticate', { project_id: P, email: address, password });
    await rejectsWith(authenticate(PASSWORD), 'email_not_verified');
    // A wrong password says nothing about verification.
    await rejectsWith(authenticate('wrong password!'), 'invalid_credentials');
    const mail = identity.mails.find((m) => m.to === address && m.template === 'verify_email');
    const token = new URL(mail?.vars.link ?? '').searchParams.get('token') ?? '';
    await bus.request('identity.email.verify', { project_id: P, token });
    const { user } = await authenticate(PASSWORD);
    assert.equal(user.email_verified, true);
  });
});
