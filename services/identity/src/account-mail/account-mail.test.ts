import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type RequestOf } from '@gatehouse/contracts';
import { newId, type RequestSubjectName } from '@gatehouse/kit';
import { startTestIdentity, type TestIdentity } from '../app.test-support.ts';

const email = (tag: string) => `${tag}-${newId()}@example.test`;
const PASSWORD = 'correct horse battery';

describe('identity account mail', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ PUBLIC_URL: 'https://auth.example.test' });
  });
  after(() => identity?.close());

  const request = <S extends RequestSubjectName>(subject: S, data: RequestOf<S>) => identity.bus.request(subject, data);

  test('links lead to the given redirect_to, keeping its own query', async () => {
    const address = email('redirect');
    await request('identity.user.register', {
      project_id: P,
      email: address,
      password: PASSWORD,
      name: 'Ada <b>',
      redirect_to: 'https://app.example.test/welcome?from=signup',
    });
    const link = new URL(identity.mailsTo(address)[0]?.vars.link ?? '');
    assert.equal(link.origin + link.pathname, 'https://app.example.test/welcome');
    assert.equal(link.searchParams.get('from'), 'signup');
    assert.ok(link.searchParams.get('token'));
  });

  test('a sign-in method added is mailed to the user', async () => {
    const address = email('factor');
    const { user } = await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
    await request('identity.notice.factor_added', {
      project_id: P,
      user_id: user.id,
      factor: 'passkey',
      name: 'YubiKey',
      ip: '203.0.113.5',
    });
    const mail = identity.mails.filter((m) => m.to === address).at(-1);
    assert.equal(mail?.template, 'factor_added');
    assert.equal(mail?.vars.factor, 'A passkey');
    assert.equal(mail?.vars.factor_name, 'YubiKey');
    assert.equal(mail?.vars.ip, '203.0.113.5');
  });
});
