// Defect 8 of the attack report: addresses that reach one mailbox must be one
// account, and a mail must go to the address the account holds, nowhere else.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type RequestOf } from '@gatehouse/contracts';
import { AppError, newId, type RequestSubjectName } from '@gatehouse/kit';
import { startTestIdentity, type TestIdentity } from '../app.test-support.ts';
import { openPgliteTestDatabase } from '../db/test-databases.ts';

const PASSWORD = 'correct horse battery';
/** A fresh local part per test, so the tests share one database. */
const tag = () => newId().slice(-12);

/** `validation_failed` naming the field `email`, and not echoing the address. */
const invalidEmail = (address: string) => (err: unknown) =>
  err instanceof AppError &&
  err.code === 'validation_failed' &&
  (err.details?.[0] as { field?: string } | undefined)?.field === 'email' &&
  !JSON.stringify(err.details).includes(address);

describe('identity accepts one address per mailbox, in one form', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ PUBLIC_URL: 'https://auth.example.test' });
  });
  after(() => identity?.close());

  const request = <S extends RequestSubjectName>(subject: S, data: RequestOf<S>) => identity.bus.request(subject, data);
  const register = (email: string) => request('identity.user.register', { project_id: P, email, password: PASSWORD });
  const authenticate = (email: string, password = PASSWORD) =>
    request('identity.user.authenticate', { project_id: P, email, password });
  const usersWith = (needle: string) =>
    identity.database.db.selectFrom('users').select('email').where('email', 'like', `%${needle}%`).execute();

  test('register refuses a quoted local part, and nothing is stored or mailed', async () => {
    const t = tag();
    const quoted = `"look-${t}"@example.com`;
    await register(`look-${t}@example.com`);
    await assert.rejects(register(quoted), invalidEmail(quoted));
    assert.equal((await usersWith(t)).length, 1);
    assert.deepEqual(
      identity.mails.filter((m) => m.to.includes(t)).map((m) => m.to),
      [`look-${t}@example.com`],
    );
  });

  test('register, guest conversion, forgot password and magic link refuse a comma (two recipients)', async () => {
    const t = tag();
    const listed = `zz-${t},qq-${t}@example.com`;
    await assert.rejects(register(listed), invalidEmail(listed));
    const { user: guest } = await request('identity.guest.create', { project_id: P });
    await assert.rejects(
      request('identity.guest.convert', { project_id: P, user_id: guest.id, email: listed, password: PASSWORD }),
      invalidEmail(listed),
    );
    await assert.rejects(request('identity.password.forgot', { project_id: P, email: listed }), invalidEmail(listed));
    await assert.rejects(request('identity.magic_link.send', { project_id: P, email: listed }), invalidEmail(listed));
    assert.equal((await usersWith(t)).length, 0, 'no account');
    assert.equal(identity.mails.filter((m) => m.to.includes(t)).length, 0, 'no mail, to anyone');
    const row = await identity.database.db
      .selectFrom('one_time_tokens')
      .select('email')
      .where('email', 'like', `%${t}%`)
      .executeTakeFirst();
    assert.equal(row, undefined, 'no token');
  });

  test('a zero-width space (or another invisible character) is refused everywhere', async () => {
    const t = tag();
    for (const hidden of [
      `look-${t}\u200b@example.com`,
      `look-${t}@exa\u200bmple.com`,
      `\ufefflook-${t}@example.com`,
    ]) {
      await assert.rejects(register(hidden), invalidEmail(hidden), JSON.stringify(hidden));
      await assert.rejects(request('identity.magic_link.send', { project_id: P, email: hidden }), invalidEmail(hidden));
    }
    assert.equal((await usersWith(t)).length, 0);
  });

  test('the NFC and NFD forms of one address are one account: email_taken, and either form signs in', async () => {
    const t = tag();
    const nfc = `\u00e9look-${t}@example.com`;
    const nfd = `e\u0301look-${t}@example.com`;
    const { user } = await register(nfd);
    assert.equal(user.email, nfc, 'stored in NFC');
    await assert.rejects(register(nfc), { code: 'email_taken' });
    await assert.rejects(register(nfd.toUpperCase()), { code: 'email_taken' });
    assert.equal((await authenticate(nfc)).user.id, user.id);
    assert.equal((await authenticate(nfd)).user.id, user.id);
    assert.equal((await request('identity.user.find', { project_id: P, email: nfc })).user?.id, user.id);
    assert.equal(identity.mails.filter((m) => m.to.includes(t)).at(-1)?.to, nfc, 'the mail goes to the stored form');
  });

  test('a Unicode domain and its punycode form are one account, stored in one form', async () => {
    const t = tag();
    const unicode = `\u00fcn\u00efcode-${t}@b\u00fccher.example`;
    const punycode = `\u00fcn\u00efcode-${t}@xn--bcher-kva.example`;
    const { user } = await register(punycode);
    assert.equal(user.email, unicode);
    await assert.rejects(register(unicode), { code: 'email_taken' });
    await assert.rejects(register(`U\u0308N\u00cfCODE-${t}@B\u00dcCHER.EXAMPLE`), { code: 'email_taken' });
    assert.equal((await authenticate(unicode)).user.id, user.id);
    assert.equal((await authenticate(punycode)).user.id, user.id);
    assert.equal((await usersWith(t)).length, 1);
  });

  test('a magic link for another spelling signs in to the same account, and mails the stored form', async () => {
    const t = tag();
    const nfc = `\u00e9look-${t}@example.com`;
    const { user } = await register(nfc);
    await request('identity.magic_link.send', { project_id: P, email: `E\u0301LOOK-${t}@EXAMPLE.COM` });
    const mail = identity.mails.filter((m) => m.template === 'magic_link' && m.to.includes(t)).at(-1);
    assert.equal(mail?.to, nfc);
    const token = new URL(mail?.vars.link ?? '').searchParams.get('token') ?? '';
    const signedIn = await request('identity.magic_link.verify', { project_id: P, token });
    assert.equal(signedIn.created, false);
    assert.equal(signedIn.user.id, user.id);
  });

  test('forgot password for another spelling mails the reset link to the stored form', async () => {
    const t = tag();
    const unicode = `look-${t}@b\u00fccher.example`;
    await register(unicode);
    await request('identity.password.forgot', { project_id: P, email: ` LOOK-${t}@xn--bcher-kva.example ` });
    const mail = identity.mails.filter((m) => m.template === 'reset_password' && m.to.includes(t)).at(-1);
    assert.equal(mail?.to, unicode);
  });

  test('a guest converts with a canonical address: another spelling of it is then taken', async () => {
    const t = tag();
    const { user: guest } = await request('identity.guest.create', { project_id: P });
    const { user } = await request('identity.guest.convert', {
      project_id: P,
      user_id: guest.id,
      email: `E\u0301look-${t}@Example.COM`,
      password: PASSWORD,
    });
    assert.equal(user.email, `\u00e9look-${t}@example.com`);
    await assert.rejects(register(`\u00e9look-${t}@example.com`), { code: 'email_taken' });
  });

  test('sign-in with an address no account can have answers as a wrong password does (no 500)', async () => {
    const t = tag();
    const address = `look-${t}@example.com`;
    await register(address);
    const wrong = await authenticate(address, 'not the password').catch((err) => err);
    assert.equal(wrong.code, 'invalid_credentials');
    for (const bad of [
      `"look-${t}"@example.com`,
      `zz,look-${t}@example.com`,
      `look-${t}\u200b@example.com`,
      'x@[127.0.0.1]',
      'nope',
    ]) {
      const err = await authenticate(bad).catch((e) => e);
      assert.ok(err instanceof AppError, JSON.stringify(bad));
      assert.equal(err.code, 'invalid_credentials', JSON.stringify(bad));
      assert.equal(err.message, wrong.message);
      assert.equal(err.details, undefined);
    }
    assert.equal((await request('identity.user.find', { project_id: P, email: `"look-${t}"@example.com` })).user, null);
  });

  test('a pending magic link for a refused address (issued before the check) cannot create an account', async () => {
    const t = tag();
    const { OneTimeTokens } = await import('../one-time-tokens/one-time-tokens.ts');
    const tokens = new OneTimeTokens(identity.database.db);
    const { token } = await tokens.issue({
      projectId: P,
      userId: null,
      email: `zz-${t},qq-${t}@example.com`,
      purpose: 'magic_link',
    });
    await assert.rejects(request('identity.magic_link.verify', { project_id: P, token }), {
      code: 'invalid_one_time_token',
    });
    assert.equal((await usersWith(t)).length, 0);
  });
});

describe('identity admin bootstrap and addresses', () => {
  test('ADMIN_EMAIL is stored in its canonical form', async () => {
    const identity = await startTestIdentity({
      ADMIN_EMAIL: ' Ro\u0301ot@XN--BCHER-KVA.example ',
      ADMIN_PASSWORD: 'admin password',
    });
    try {
      const admin = await identity.database.db
        .selectFrom('users')
        .select('email')
        .where('role', '=', 'admin')
        .executeTakeFirst();
      assert.equal(admin?.email, 'r\u00f3ot@b\u00fccher.example');
    } finally {
      await identity.close();
    }
  });

  test('an ADMIN_EMAIL that is not one address creates no admin, and identity still starts', async () => {
    const database = await openPgliteTestDatabase();
    try {
      const identity = await startTestIdentity(
        { ADMIN_EMAIL: 'root@example.test,other@example.test', ADMIN_PASSWORD: 'admin password' },
        database,
      );
      const admins = await database.db.selectFrom('users').select('id').where('role', '=', 'admin').execute();
      assert.equal(admins.length, 0);
      assert.deepEqual(await identity.bus.request('identity.health.check', {}), { ok: true });
      await identity.close();
    } finally {
      await database.drop();
    }
  });
});
