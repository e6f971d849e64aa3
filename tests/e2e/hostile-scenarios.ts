import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { client, type Res, uniqueEmail } from './client.ts';

/**
 * Hostile input on every JSON route of the OpenAPI document, read from the
 * running server (a route added later is covered without anyone listing it):
 * every string field gets control characters, lone surrogates, huge, look-alike,
 * SQL and HTML values; every body gets invalid UTF-8, deep nesting and too
 * many keys. Nothing may answer 500 or anything but the contract's error body,
 * and a normal sign-in must still work after each route.
 */

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  anyOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
}
interface Operation {
  method: string;
  path: string;
  secured: boolean;
  body: Schema | undefined;
}

const PASSWORD = 'correct horse battery';
/** `body` as JSON with `field` holding objects nested `levels` deep (written out: JSON.stringify would overflow). */
const withDeep = (body: Record<string, unknown>, field: string, levels: number): string =>
  JSON.stringify({ ...body, [field]: 'DEEP' }).replace('"DEEP"', `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);

/** Values that must be refused at the edge: 400 validation_failed naming the field. */
const REFUSED: Record<string, string> = {
  nul: 'a\u0000b',
  control: 'a\u0007b',
  'lone surrogate': 'a\ud800b',
  'lone low surrogate': '\udfffa',
  'C1 control': 'a\u0085b',
};
/** Values that may be accepted or refused, but never with a 500. */
const HOSTILE: Record<string, string> = {
  '10k characters': 'x'.repeat(10_000),
  'look-alike Unicode': 'аdmin@ехample.com ＡＤＭＩＮ ℌ𝔢𝔩𝔩𝔬 e\u0301',
  'zero-width': 'a\u200bb\u2060c\ufeff',
  'bidi override': 'abc\u202edcba',
  sql: "' OR '1'='1'; DROP TABLE users; --",
  html: '<script>alert(1)</script><img src=x onerror=alert(1)>',
  emoji: '🔐'.repeat(50),
};

function isContractError(res: Res, what: string): void {
  assert.ok(res.status < 500, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
  if (res.status >= 400) {
    assert.equal(typeof res.body.error, 'string', `${what}: ${JSON.stringify(res.body)}`);
    assert.equal(typeof res.body.message, 'string', `${what}: ${JSON.stringify(res.body)}`);
    const text = JSON.stringify(res.body);
    assert.doesNotMatch(text, /\bat .+\.ts:\d+|select |insert into|syntax error|pglite|RuntimeError/i, what);
  }
}

/** A value the schema accepts, so that only the field under attack is wrong. */
function plausible(name: string, schema: Schema): unknown {
  if (schema.anyOf) return plausible(name, schema.anyOf.find((s) => s.type !== 'null') ?? schema.anyOf[0]!);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'object') return {};
  if (type === 'integer' || type === 'number') return 1;
  if (type === 'boolean') return true;
  if (schema.format === 'uuid') return randomUUID();
  if (name.includes('email')) return uniqueEmail('hostile');
  if (schema.format === 'uri' || schema.pattern?.includes('https')) return 'https://example.com/a.png';
  return 'w'.repeat(Math.min(Math.max(schema.minLength ?? 1, 12), schema.maxLength ?? 12));
}

function baseline(body: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of body.required ?? []) out[name] = plausible(name, body.properties?.[name] ?? {});
  return out;
}

function stringFields(body: Schema): string[] {
  const isString = (s: Schema): boolean =>
    s.type === 'string' || (Array.isArray(s.type) && s.type.includes('string')) || (s.anyOf ?? []).some(isString);
  return Object.entries(body.properties ?? {})
    .filter(([, s]) => isString(s))
    .map(([name]) => name);
}

async function operations(base: string): Promise<Operation[]> {
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
    paths: Record<
      string,
      Record<string, { security?: unknown[]; requestBody?: { content?: Record<string, { schema?: Schema }> } }>
    >;
  };
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (method === 'get' || method === 'head') continue;
      ops.push({
        method: method.toUpperCase(),
        path,
        secured: (op.security?.length ?? 0) > 0,
        body: op.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
  return ops;
}

async function send(base: string, op: Operation, token: string, raw: string | Buffer): Promise<Res> {
  const path = op.path.replace(/\{[^}]+\}/g, () => randomUUID());
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    // A fresh address per request: the per-IP limits are not what is tested here.
    'x-forwarded-for': `10.${rnd()}.${rnd()}.${rnd()}`,
  };
  if (op.secured) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method: op.method, headers, body: raw, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let body: Res['body'];
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    assert.fail(`${op.method} ${op.path} answered a body that is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, body };
}
const rnd = () => Math.floor(Math.random() * 250) + 1;

export function hostileScenarios(mode: string, baseUrl: () => string): void {
  describe(`${mode}: hostile input on every route of the OpenAPI document`, () => {
    test('no route answers 500, a stack trace or SQL, and sign-in keeps working', async () => {
      const base = baseUrl();
      const owner = client(base);
      const email = uniqueEmail('hostile-owner');
      const registered = await owner.post('/auth/register', { email, password: PASSWORD });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      const signIn = async () => {
        const res = await client(base).post('/auth/login', { email, password: PASSWORD });
        assert.equal(res.status, 200, `a normal sign-in failed: ${JSON.stringify(res.body)}`);
        return res.body.access_token as string;
      };

      const ops = (await operations(base)).filter((op) => op.body);
      // The document is the source: if it lost its routes, this test would prove nothing.
      assert.ok(ops.length >= 25, `only ${ops.length} JSON routes in the OpenAPI document`);
      assert.ok(ops.some((op) => op.path === '/auth/register') && ops.some((op) => op.path === '/auth/me'));
      let checked = 0;

      for (const op of ops) {
        const what = (s: string) => `${op.method} ${op.path}: ${s}`;
        const token = await signIn();
        const body = op.body!;
        const fields = stringFields(body);

        for (const field of fields) {
          for (const [name, value] of Object.entries(REFUSED)) {
            const res = await send(base, op, token, JSON.stringify({ ...baseline(body), [field]: value }));
            isContractError(res, what(`${field} with ${name}`));
            assert.equal(res.status, 400, what(`${field} with ${name}: ${JSON.stringify(res.body)}`));
            assert.equal(res.body.error, 'validation_failed', what(`${field} with ${name}`));
            const details = res.body.details as { field: string }[];
            assert.equal(details[0]?.field, field, what(`${field} with ${name}: ${JSON.stringify(details)}`));
            checked++;
          }
          for (const [name, value] of Object.entries(HOSTILE)) {
            const res = await send(base, op, token, JSON.stringify({ ...baseline(body), [field]: value }));
            isContractError(res, what(`${field} with ${name}`));
            checked++;
          }
        }
        // The same characters as keys of an object field, and an object nested too deep.
        for (const [field, schema] of Object.entries(body.properties ?? {})) {
          if (schema.type !== 'object') continue;
          for (const [name, value] of Object.entries(REFUSED)) {
            const res = await send(base, op, token, JSON.stringify({ ...baseline(body), [field]: { [value]: 1 } }));
            assert.equal(res.status, 400, what(`a key of ${field} with ${name}: ${JSON.stringify(res.body)}`));
            assert.equal(res.body.error, 'validation_failed');
            checked++;
          }
          const nested = await send(base, op, token, withDeep(baseline(body), field, 1500));
          assert.equal(nested.status, 400, what(`${field} nested 1,500 deep: ${JSON.stringify(nested.body)}`));
          assert.equal(nested.body.error, 'validation_failed');
          checked++;
        }

        // The body as a whole.
        const invalidUtf8 = Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]);
        const bytes = await send(base, op, token, invalidUtf8);
        assert.equal(bytes.status, 400, what(`invalid UTF-8: ${JSON.stringify(bytes.body)}`));
        assert.equal(bytes.body.error, 'invalid_json');
        const nested = await send(base, op, token, withDeep(baseline(body), 'zz', 5000));
        assert.equal(nested.status, 400, what(`nested 5,000 deep: ${JSON.stringify(nested.body)}`));
        assert.equal(nested.body.error, 'validation_failed');
        const arrays = await send(base, op, token, `{"zz":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
        assert.equal(arrays.status, 400, what('arrays nested 20,000 deep'));
        const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]));
        const keys = await send(base, op, token, JSON.stringify(many));
        assert.equal(keys.status, 400, what(`300 keys: ${JSON.stringify(keys.body)}`));
        assert.equal(keys.body.error, 'validation_failed');
        const proto = await send(base, op, token, '{"__proto__":{"role":"admin"}}');
        isContractError(proto, what('__proto__'));
        assert.equal(proto.status, 400, what('__proto__'));
        checked += 5;
      }

      // Still serving: a sign-in, and the database behind it.
      await signIn();
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200);
      assert.ok(checked > 400, `only ${checked} hostile requests were sent`);
    });

    test('path parameters with hostile values are refused with the contract body', async () => {
      const base = baseUrl();
      const owner = client(base);
      const res = await owner.post('/auth/register', { email: uniqueEmail('hostile-path'), password: PASSWORD });
      const token = res.body.access_token as string;
      for (const value of ['%00', '%ED%A0%80', '%FF', 'x'.repeat(5000), "'%20OR%201=1", '..%2F..%2Fetc']) {
        for (const path of [`/auth/sessions/${value}`, `/auth/passkeys/${value}`]) {
          const r = await fetch(base + path, {
            method: 'DELETE',
            headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': `10.${rnd()}.${rnd()}.${rnd()}` },
          });
          const body = (await r.json()) as Res['body'];
          isContractError({ status: r.status, headers: r.headers, body }, `DELETE ${path.slice(0, 40)}`);
          assert.ok(r.status >= 400, `DELETE ${path.slice(0, 40)}: ${r.status}`);
        }
      }
    });
  });
}
