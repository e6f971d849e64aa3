import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { BUS_JSON_LIMITS, EDGE_JSON_LIMITS, findJsonProblem, stringProblem } from './json-guard.ts';
import { validate } from './validation.ts';

const nested = (levels: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i++) v = i % 2 ? { a: v } : [v];
  return v;
};

test('strings that cannot be stored or have no place in a field are named', () => {
  assert.match(stringProblem('a\u0000b') ?? '', /U\+0000/);
  assert.match(stringProblem('\u001b[31m') ?? '', /U\+001B/);
  assert.match(stringProblem('\u009b') ?? '', /U\+009B/);
  assert.match(stringProblem('x\ud800') ?? '', /lone surrogate/);
  assert.match(stringProblem('\udc00x') ?? '', /lone surrogate/);
  for (const ok of ['plain', 'tab\tand\nlines\r', 'élan 🔐 日本', '']) assert.equal(stringProblem(ok), undefined, ok);
});

test('depth, keys and values are bounded, and the path of the first problem is given', () => {
  assert.equal(findJsonProblem(nested(EDGE_JSON_LIMITS.maxDepth), EDGE_JSON_LIMITS), undefined);
  assert.match(
    findJsonProblem(nested(EDGE_JSON_LIMITS.maxDepth + 1), EDGE_JSON_LIMITS)?.message ?? '',
    /nested deeper/,
  );
  // Iterative: a value far deeper than any stack stops at the limit.
  assert.ok(findJsonProblem(nested(200_000), BUS_JSON_LIMITS));
  const wide = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, i]));
  assert.deepEqual(findJsonProblem({ metadata: wide }, EDGE_JSON_LIMITS), {
    field: 'metadata',
    message: 'holds more than 256 keys',
  });
  assert.equal(findJsonProblem({ metadata: wide }, BUS_JSON_LIMITS), undefined);
  const many = { a: Array.from({ length: 200 }, () => Array.from({ length: 30 }, () => 1)) };
  assert.match(findJsonProblem(many, EDGE_JSON_LIMITS)?.message ?? '', /more than 4096 values/);
  assert.deepEqual(findJsonProblem({ user: { metadata: { list: ['ok', 'a\u0000'] } } }, BUS_JSON_LIMITS), {
    field: 'user.metadata.list.1',
    message: 'holds a control character (U+0000)',
  });
  assert.deepEqual(findJsonProblem({ m: { 'bad\u0000key': 1 } }, BUS_JSON_LIMITS), {
    field: 'm.bad\ufffdkey',
    message: 'its name holds a control character (U+0000)',
  });
});

test('validate, on both ends of the bus, refuses what the guard refuses whatever the schema allows', () => {
  const anything = Type.Object({ metadata: Type.Record(Type.String(), Type.Unknown()) });
  assert.throws(
    () => validate(anything, { metadata: { a: 'x\ud800' } }, 'message'),
    (err: { code?: string; details?: { field: string }[] }) =>
      err.code === 'validation_failed' && err.details?.[0]?.field === 'metadata.a',
  );
  assert.throws(() => validate(anything, { metadata: nested(5000) }, 'message'), { code: 'validation_failed' });
  assert.deepEqual(validate(anything, { metadata: { note: 'a\nb' } }, 'message'), { metadata: { note: 'a\nb' } });
});
