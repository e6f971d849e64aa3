import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AUDIT_DATA_FIELDS, AUDIT_EVENT_TYPES, type AuditEvent } from '@gatehouse/contracts';
import { isAppError } from '../errors.ts';
import { auditEvent, validAuditEvent } from './event.ts';

const PROJECT = '0190f5a0-0000-7000-8000-000000000001';
const USER = '0190f5a0-0000-7000-8000-0000000000aa';

/** A request body as a careless producer might spread it into an event. */
const body = {
  email: 'ada@example.com',
  password: 'correct horse battery staple',
  current_password: 'old horse battery staple',
  new_password: 'new horse battery staple',
  token: 'tok_3a9f0c1e5b7d',
  refresh_token: 'rt_8b1d2f3a4c5e',
  access_token: 'eyJhbGciOiJFUzI1NiJ9.e30.sig',
  code: '123456',
  recovery_code: 'abcd-efgh-ijkl',
  key: 'uk_0123456789abcdefghij',
  secret: 'JBSWY3DPEHPK3PXP',
  name: 'my key',
};
const secrets = Object.values(body);

describe('audit events', () => {
  test('keep only the data fields their type allows: nothing of a request body spread into them lands in the event', () => {
    for (const type of AUDIT_EVENT_TYPES) {
      const event = auditEvent({
        type,
        project_id: PROJECT,
        user_id: USER,
        ip: '203.0.113.9',
        user_agent: 'test-agent/1.0',
        // Wrongly typed on purpose: what a spread of `request.body` would pass.
        data: { ...body, method: 'password', reason: 'invalid_credentials' } as never,
      });
      const json = JSON.stringify(event);
      for (const secret of secrets) assert.ok(!json.includes(secret), `${type} holds ${secret}`);
      const allowed: readonly string[] = AUDIT_DATA_FIELDS[type];
      for (const field of Object.keys(event.data)) assert.ok(allowed.includes(field), `${type} carries ${field}`);
      // And it is a valid event the queues accept.
      assert.deepEqual(validAuditEvent(event), event);
    }
  });

  test('a sign-in failure keeps its method and reason, with a new time-ordered id and the time now', () => {
    const before = Date.now();
    const a = auditEvent({
      type: 'sign_in.failed',
      project_id: PROJECT,
      data: { method: 'password', reason: 'invalid_credentials' },
    });
    const b = auditEvent({ type: 'sign_out', project_id: PROJECT, user_id: USER, data: { scope: 'all' } });
    assert.deepEqual(a.data, { method: 'password', reason: 'invalid_credentials' });
    assert.equal(a.user_id, null, 'no user when none is known');
    assert.equal(a.actor_id, null);
    assert.equal(a.ip, null);
    assert.ok(Date.parse(a.at) >= before - 1);
    assert.ok(a.id < b.id, 'UUID v7: a later event sorts after');
    assert.equal(a.v, 1);
  });

  test('the schema refuses what the builder never makes: a free-form field, a secret in a typed field, an email', () => {
    const good = auditEvent({ type: 'api_key.created', project_id: PROJECT, user_id: USER, data: { key_id: USER } });
    const refused = (event: unknown) =>
      assert.throws(
        () => validAuditEvent(event),
        (err) => isAppError(err, 'validation_failed'),
      );
    refused({ ...good, data: { password: 'hunter2' } });
    refused({ ...good, data: { key_id: 'uk_0123456789abcdefghij' } });
    refused({ ...good, data: { reason: 'the password was hunter2' } });
    refused({ ...good, email: 'ada@example.com' });
    refused({ ...good, type: 'user.password_was' });
    const long: AuditEvent = { ...good, user_agent: 'x'.repeat(513) };
    refused(long);
  });

  test('cuts an overlong address or user agent to what the schema holds', () => {
    const event = auditEvent({
      type: 'sign_out',
      project_id: PROJECT,
      ip: '1'.repeat(100),
      user_agent: 'u'.repeat(2000),
      data: { scope: 'session' },
    });
    assert.equal(event.ip?.length, 64);
    assert.equal(event.user_agent?.length, 512);
    validAuditEvent(event);
  });
});
