import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type RequestOf } from '@gatehouse/contracts';
import { newId, type RequestSubjectName } from '@gatehouse/kit';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';

// The tokens behind every emailed link, through the flows that use them.

const email = (tag: string) => `${tag}-${newId()}@example.test`;
const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';

describe('identity one-time tokens', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ PUBLIC_URL: 'https://auth.example.test' });
  });
  after(() => identity?.close());

  const request = <S extends RequestSubjectName>(subject: S, data: RequestOf<S>) => identity.bus.request(subject, data);
  const register = (address: string) =>
    request('identity.user.register', { project_id: P, email: address, password: PASSWORD, name: 'Ada <b>' });

  test('a token is stored only as its hash', async () => {
    const address = email('hash');
    await register(address);
    const token = identity.tokenFrom(address, 'verify_email');
    const rows = await identity.database.db
      .selectFrom('one_time_tokens')
      .selectAll()
      .where('email', '=', address)
      .execute();
    assert.equal(rows.length, 1);
    assert.notEqual(rows[0]?.token_hash, token);
    assert.ok(!JSON.stringify(rows).includes(token));
  });

  test('an expired, unknown or wrong-purpose token is invalid_one_time_token', async () => {
    const address = email('expired');
    await register(address);
    const token = identity.tokenFrom(address, 'verify_email');
    await rejectsWith(request('identity.magic_link.verify', { project_id: P, token }), 'invalid_one_time_token');
    await rejectsWith(
      request('identity.password.reset', { project_id: P, token, password: NEW_PASSWORD }),
      'invalid_one_time_token',
    );
    await identity.expireToken(token);
    await rejectsWith(request('identity.email.verify', { project_id: P, token }), 'invalid_one_time_token');
    await rejectsWith(
      request('identity.email.verify', { project_id: P, token: 'x'.repeat(43) }),
      'invalid_one_time_token',
    );
  });

  test('two concurrent uses of one token: exactly one succeeds', async () => {
    const address = email('race');
    await request('identity.magic_link.send', { project_id: P, email: address });
    const token = identity.tokenFrom(address, 'magic_link');
    const results = await Promise.allSettled([
      request('identity.magic_link.verify', { project_id: P, token }),
      request('identity.magic_link.verify', { project_id: P, token }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  });
});
