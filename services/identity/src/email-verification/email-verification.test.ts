import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type RequestOf } from '@gatehouse/contracts';
import { newId, type RequestSubjectName } from '@gatehouse/kit';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';

const email = (tag: string) => `${tag}-${newId()}@example.test`;
const PASSWORD = 'correct horse battery';

describe('identity email verification', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ PUBLIC_URL: 'https://auth.example.test' });
  });
  after(() => identity?.close());

  const request = <S extends RequestSubjectName>(subject: S, data: RequestOf<S>) => identity.bus.request(subject, data);
  const register = (address: string) =>
    request('identity.user.register', { project_id: P, email: address, password: PASSWORD, name: 'Ada <b>' });

  test('register mails a verification link to PUBLIC_URL/auth/confirm, and the link verifies once', async () => {
    const address = email('verify');
    const { user } = await register(address);
    const [mail] = identity.mailsTo(address);
    assert.ok(mail);
    assert.equal(mail.template, 'verify_email');
    assert.equal(mail.project_id, P);
    assert.equal(mail.vars.name, 'Ada <b>');
    assert.equal(mail.vars.expires_in, '24 hours');
    const link = new URL(mail.vars.link ?? '');
    assert.equal(`${link.origin}${link.pathname}`, 'https://auth.example.test/auth/confirm');
    const token = identity.tokenFrom(address, 'verify_email');
    assert.match(token, /^[A-Za-z0-9_-]{43}$/); // 256 bits

    const verified = await request('identity.email.verify', { project_id: P, token });
    assert.equal(verified.user.id, user.id);
    assert.equal(verified.user.email_verified, true);
    assert.ok(identity.published.some((e) => e.subject === 'events.user.updated' && e.data.user_id === user.id));
    await rejectsWith(request('identity.email.verify', { project_id: P, token }), 'invalid_one_time_token');
  });

  test('a verification link does not verify an address set after it was sent', async () => {
    const address = email('moved');
    const { user } = await register(address);
    const token = identity.tokenFrom(address, 'verify_email');
    await identity.database.db
      .updateTable('users')
      .set({ email: email('other') })
      .where('id', '=', user.id)
      .execute();
    await rejectsWith(request('identity.email.verify', { project_id: P, token }), 'invalid_one_time_token');
  });

  test('resend mails a new link and retires the old one; a verified address gets nothing', async () => {
    const address = email('resend');
    const { user } = await register(address);
    const first = identity.tokenFrom(address, 'verify_email');
    await request('identity.email.resend', { project_id: P, user_id: user.id });
    const second = identity.tokenFrom(address, 'verify_email');
    assert.notEqual(first, second);
    await rejectsWith(request('identity.email.verify', { project_id: P, token: first }), 'invalid_one_time_token');
    await request('identity.email.verify', { project_id: P, token: second });
    const before = identity.mailsTo(address).length;
    await request('identity.email.resend', { project_id: P, user_id: user.id });
    assert.equal(identity.mailsTo(address).length, before);
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
