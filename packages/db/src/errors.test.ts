import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, isAppError } from '@gatehouse/kit';
import {
  EmbeddedDatabaseUnavailable,
  isUnavailable,
  uniqueViolation,
  unstorableInput,
  WasmRuntimeError,
  withDatabaseErrors,
} from './errors.ts';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

test('treats connection failures, shutdowns and timeouts as an outage', () => {
  for (const err of [
    withCode('ECONNREFUSED'),
    withCode('ECONNRESET'),
    withCode('08006'),
    withCode('57P01'),
    withCode('57014'),
    withCode('53300'),
    new Error('timeout exceeded when trying to connect'),
    new Error('Connection terminated unexpectedly'),
    new Error('Query read timeout'),
    new AggregateError([withCode('ECONNREFUSED')], 'all failed'),
    new WasmRuntimeError('memory access out of bounds'),
    new EmbeddedDatabaseUnavailable('the embedded database crashed and is being reopened'),
  ]) {
    assert.equal(isUnavailable(err), true, String(err));
  }
});

test('does not treat a bad query or a constraint violation as an outage', () => {
  for (const err of [withCode('42P01'), withCode('23505'), withCode('22P02'), new Error('boom'), 'not an error']) {
    assert.equal(isUnavailable(err), false, String(err));
  }
});

test('names the constraint of a unique violation, from the field or the message', () => {
  assert.equal(
    uniqueViolation(Object.assign(withCode('23505'), { constraint: 'users_project_email_key' })),
    'users_project_email_key',
  );
  assert.equal(
    uniqueViolation(withCode('23505', 'duplicate key value violates unique constraint "users_project_email_key"')),
    'users_project_email_key',
  );
  assert.equal(uniqueViolation(withCode('23503')), undefined);
  assert.equal(uniqueViolation(undefined), undefined);
});

test('turns an outage into service_unavailable without the driver message, and passes other errors through', async () => {
  const down = await withDatabaseErrors(() =>
    Promise.reject(withCode('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:5432')),
  ).catch((e) => e);
  assert.ok(down instanceof AppError);
  assert.equal(down.code, 'service_unavailable');
  assert.doesNotMatch(down.message, /ECONNREFUSED|10\.0\.0\.5/);

  const bug = withCode('42601', 'syntax error at or near "selec"');
  assert.equal(await withDatabaseErrors(() => Promise.reject(bug)).catch((e) => e), bug);
  const expected = new AppError('email_taken', 'taken');
  assert.equal(await withDatabaseErrors(() => Promise.reject(expected)).catch((e) => e), expected);
});

test('turns text the database cannot store into validation_failed, keeping the driver wording out of the reply', async () => {
  // The errors Postgres 15 and PGlite both raise, as they word them.
  for (const err of [
    withCode('22021', 'invalid byte sequence for encoding "UTF8": 0x00'),
    withCode('22P05', 'unsupported Unicode escape sequence'),
    withCode('22P02', 'invalid input syntax for type json'),
  ]) {
    const mapped = await withDatabaseErrors(() => Promise.reject(err)).catch((e) => e);
    assert.ok(isAppError(mapped, 'validation_failed'), String(mapped));
    assert.equal(mapped.message, 'the request holds characters that cannot be stored');
    assert.deepEqual(
      mapped.details?.map((d: unknown) => (d as { field: string }).field),
      ['/'],
    );
    assert.doesNotMatch(JSON.stringify([mapped.message, mapped.details]), /UTF8|0x00|escape|syntax/);
    assert.equal(mapped.cause, err, 'the driver error stays in the cause');
  }
  const deep = await withDatabaseErrors(() => Promise.reject(withCode('54001', 'stack depth limit exceeded'))).catch(
    (e) => e,
  );
  assert.ok(isAppError(deep, 'validation_failed'));
  assert.match(deep.message, /nested too deeply/);
});

test("a value of the wrong type is still a bug, not the client's fault", async () => {
  const uuid = withCode('22P02', 'invalid input syntax for type uuid: "nope"');
  assert.equal(unstorableInput(uuid), undefined);
  assert.equal(await withDatabaseErrors(() => Promise.reject(uuid)).catch((e) => e), uuid);
  for (const err of [withCode('23514'), withCode('42703'), new Error('22021'), 'not an error']) {
    assert.equal(unstorableInput(err), undefined, String(err));
  }
});
