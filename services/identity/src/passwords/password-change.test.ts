import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P } from '@gatehouse/contracts';
import { newId } from '@gatehouse/kit';
import { startTestIdentity, type TestIdentity } from '../app.test-support.ts';

const PASSWORD = 'first password';

describe('identity password change', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity();
  });
  after(() => identity?.close());

  const newUser = async (tag: string) => {
    const address = `${tag}-${newId()}@example.test`;
    const { user } = await identity.bus.request('identity.user.register', {
      project_id: P,
      email: address,
      password: PASSWORD,
    });
    return { ...user, address };
  };

  test('changes the password: the old one fails, the new one works, user.password_changed is published', async () => {
    const user = await newUser('acct');
    const signIn = (password: string) =>
      identity.bus.request('identity.user.authenticate', { project_id: P, email: user.address, password });
    const change = (current: string) =>
      identity.bus.request('identity.password.change', {
        project_id: P,
        user_id: user.id,
        current_password: current,
        new_password: 'second password',
      });
    await assert.rejects(change('not my password'), { code: 'invalid_credentials' });
    await signIn(PASSWORD); // a refused change changed nothing
    assert.deepEqual(await change(PASSWORD), {});
    assert.deepEqual(identity.published.at(-1), {
      subject: 'events.user.password_changed',
      data: { v: 1, project_id: P, user_id: user.id },
    });
    await assert.rejects(signIn(PASSWORD), { code: 'invalid_credentials' });
    assert.equal((await signIn('second password')).user.id, user.id);
  });

  test('a password change sends the notice', async () => {
    const { id, address } = await newUser('change');
    await identity.bus.request('identity.password.change', {
      project_id: P,
      user_id: id,
      current_password: PASSWORD,
      new_password: 'a brand new passphrase',
      user_agent: 'Firefox',
    });
    const notice = identity.mailsTo(address).at(-1);
    assert.equal(notice?.template, 'password_changed');
    assert.equal(notice?.vars.user_agent, 'Firefox');
  });
});
