import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '@gatehouse/kit';
import type { FastifyInstance } from 'fastify';
import { bareGateway } from '../app.test-support.ts';
import { EdgeLogController } from './edge-log.ts';

// The edge's answer to hostile input and its headers, route by route from the OpenAPI document.

let app: FastifyInstance;
let httpsApp: FastifyInstance;
before(async () => {
  app = await bareGateway();
  httpsApp = await bareGateway({ PUBLIC_URL: 'https://auth.example.com' });
  await Promise.all([app.ready(), httpsApp.ready()]);
});
after(async () => {
  await Promise.all([app.close(), httpsApp.close()]);
});

interface Schema {
  type?: string;
  format?: string;
  properties?: Record<string, Schema>;
  required?: string[];
}
interface Operation {
  security?: unknown[];
  parameters?: { in: string; name: string; schema?: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}

/** A body that passes the route's schema: its required fields, filled in. */
function validBody(op: Operation): Record<string, unknown> {
  const schema = op.requestBody?.content['application/json']?.schema;
  const fill = (name: string, s: Schema): unknown =>
    s.type === 'object'
      ? {}
      : s.format === 'uuid'
        ? '00000000-0000-7000-8000-000000000000'
        : name === 'email'
          ? 'someone@example.com'
          : 'a-long-enough-value';
  return Object.fromEntries(
    (schema?.required ?? []).map((name) => [name, fill(name, schema?.properties?.[name] ?? {})]),
  );
}
/** A path parameter that passes its schema: a uuid for ids, a provider's name for the rest. */
function pathValue(op: Operation, name: string): string {
  const param = op.parameters?.find((p) => p.in === 'path' && p.name === name);
  return param?.schema?.format === 'uuid' ? '00000000-0000-7000-8000-000000000000' : 'example';
}
function operations(gateway: FastifyInstance): { method: string; path: string; op: Operation }[] {
  const doc = gateway.swagger() as { paths: Record<string, Record<string, Operation>> };
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path: path.replace(/\{([^}]+)\}/g, (_, name: string) => pathValue(op, name)),
      op,
    })),
  );
}
const body = (method: string) => (method === 'GET' ? undefined : {});

describe('security headers', () => {
  test('every route of the document, an unknown route and /docs answer with them', async () => {
    const targets = [...operations(app), { method: 'GET', path: '/no/such/route' }, { method: 'GET', path: '/docs/' }];
    assert.ok(targets.length > 30);
    for (const { method, path } of targets) {
      const res = await app.inject({ method: method as 'GET', url: path, payload: body(method) });
      const what = `${method} ${path} (${res.statusCode})`;
      assert.equal(res.headers['x-content-type-options'], 'nosniff', what);
      assert.equal(res.headers['x-frame-options'], 'DENY', what);
      assert.equal(res.headers['referrer-policy'], 'no-referrer', what);
      assert.ok(res.headers['content-security-policy'], what);
      assert.equal(res.headers['strict-transport-security'], undefined, `${what}: HSTS over http`);
      if (path !== '/.well-known/jwks.json') assert.equal(res.headers['cache-control'], 'no-store', what);
    }
  });

  test('the JWKS stays cacheable, and HSTS is sent when PUBLIC_URL is https', async () => {
    const jwks = await httpsApp.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    // The bare gateway has no session service: a 503 is still the contract's, with the headers.
    assert.match(String(jwks.headers['strict-transport-security']), /^max-age=\d{8}; includeSubDomains$/);
    for (const url of ['/auth/session', '/docs/', '/healthz']) {
      const res = await httpsApp.inject({ method: 'GET', url });
      assert.match(String(res.headers['strict-transport-security']), /max-age=63072000/, url);
    }
  });

  test('/docs has its own content security policy, without upgrading requests over http', async () => {
    const http = await app.inject({ method: 'GET', url: '/docs/' });
    assert.match(String(http.headers['content-security-policy']), /script-src 'self'/);
    assert.doesNotMatch(String(http.headers['content-security-policy']), /upgrade-insecure-requests/);
    const https = await httpsApp.inject({ method: 'GET', url: '/docs/' });
    assert.match(String(https.headers['content-security-policy']), /upgrade-insecure-requests/);
  });
});

describe('the OpenAPI document says which routes need a token', () => {
  test('an operation declares security exactly when it answers 401 without a token', async () => {
    const ops = operations(app);
    const secured = ops.filter(({ op }) => (op.security?.length ?? 0) > 0);
    assert.ok(secured.length >= 15, `only ${secured.length} operations declare security`);
    for (const { method, path, op } of ops) {
      if (['/readyz', '/.well-known/jwks.json'].includes(path)) continue; // 503: nothing behind the bare gateway
      const payload = method === 'GET' ? undefined : validBody(op);
      const res = await app.inject({ method: method as 'GET', url: path, payload });
      const needsToken = res.statusCode === 401 && res.json().error === 'unauthorized';
      assert.equal((op.security?.length ?? 0) > 0, needsToken, `${method} ${path}: ${res.statusCode}`);
    }
    const doc = app.swagger() as { components: { securitySchemes: Record<string, unknown> } };
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiKey', 'bearer', 'cookie']);
  });

  test('an operation lists the API key exactly when a key may call it', async () => {
    const ops = operations(app).filter(({ op }) => (op.security?.length ?? 0) > 0);
    const byKey = (path: string, method: string) =>
      ops
        .find((o) => o.path === path && o.method === method)
        ?.op.security?.some((s) => typeof s === 'object' && s !== null && 'apiKey' in s);
    assert.equal(byKey('/auth/me', 'GET'), true);
    assert.equal(byKey('/admin/users', 'GET'), true);
    for (const [path, method] of [
      ['/auth/api-keys', 'POST'],
      ['/auth/session', 'GET'],
      ['/auth/mfa/totp/setup', 'POST'],
      ['/auth/passkeys', 'GET'],
      ['/auth/identities', 'GET'],
      ['/auth/password/change', 'POST'],
    ]) {
      assert.equal(byKey(path as string, method as string), false, `${method} ${path}`);
    }
  });
});

describe('hostile bodies are refused before any route runs', () => {
  const post = (payload: string | Buffer, url = '/auth/register') =>
    app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });

  test('metadata nested 1,500 deep is 400 validation_failed naming the field', async () => {
    const deep = `${'{"a":'.repeat(1500)}1${'}'.repeat(1500)}`;
    const res = await post(`{"email":"a@example.com","password":"password123","metadata":${deep}}`);
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'validation_failed');
    assert.match(res.json().details[0].field, /^metadata\.a\.a/);
  });

  test('NUL, control characters and lone surrogates, in values and keys', async () => {
    for (const [payload, field] of [
      ['{"email":"a\\u0000b@example.com","password":"password123"}', 'email'],
      ['{"email":"a@example.com","password":"password123","name":"x\\u001b[31m"}', 'name'],
      ['{"email":"a@example.com","password":"password123","name":"x\\ud800"}', 'name'],
      ['{"email":"a@example.com","password":"password123","metadata":{"k\\udc00":1}}', 'metadata.k\ufffd'],
      ['{"email":"a@example.com","password":"password123","metadata":{"list":["ok","\\u0000"]}}', 'metadata.list.1'],
    ] as const) {
      const res = await post(payload);
      assert.equal(res.statusCode, 400, payload);
      assert.equal(res.json().error, 'validation_failed', payload);
      assert.equal(res.json().details[0].field, field, payload);
    }
  });

  test('tabs and line breaks in metadata are fine: the guard passes the body on', async () => {
    const res = await post('{"email":"a@example.com","password":"password123","metadata":{"note":"a\\tb\\nc"}}');
    // The bare gateway has no identity service behind it: reaching the bus is a 503.
    assert.equal(res.statusCode, 503);
  });

  test('a body that is not UTF-8 is 400 invalid_json, not stored as U+FFFD', async () => {
    const res = await post(
      Buffer.concat([Buffer.from('{"email":"a@example.com","name":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
    );
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'invalid_json');
  });

  test('too many keys, and prototype poisoning', async () => {
    const many = JSON.stringify({
      email: 'a@example.com',
      password: 'password123',
      metadata: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])),
    });
    const res = await post(many);
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().details[0].field, 'metadata');
    const proto = await post('{"__proto__":{"role":"admin"}}');
    assert.equal(proto.statusCode, 400);
  });

  test('avatar_url takes https (http on loopback) only', async () => {
    // Validation runs before authentication, so the bare gateway answers for the body alone.
    for (const bad of [
      'javascript:alert(1)',
      'data:text/html,x',
      'http://evil.example/a.png',
      'ftp://x.example/a',
      'https://',
    ]) {
      const res = await app.inject({ method: 'PATCH', url: '/auth/me', payload: { avatar_url: bad } });
      assert.equal(res.statusCode, 400, bad);
      // One detail that says what is wanted: not the pattern, not the `| null` branch's complaints.
      assert.deepEqual(
        res.json().details,
        [{ field: 'avatar_url', message: 'must be an https: URL (http: on localhost only)' }],
        bad,
      );
    }
    for (const good of ['https://cdn.example.com/a.png', 'http://localhost:3000/a.png', 'http://127.0.0.1/a.png']) {
      const res = await app.inject({ method: 'PATCH', url: '/auth/me', payload: { avatar_url: good } });
      assert.equal(res.statusCode, 401, good);
    }
  });
});

test('an unmatched route is logged with its path and without its query', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'info',
    service: 'test',
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  const controller = new EdgeLogController(false);
  const request = { method: 'GET', url: '/no/such/route?token=secret', routeOptions: { url: undefined } };
  const reply = { statusCode: 404, elapsedTime: 1, log };
  controller.requestCompleted(null, request as never, reply as never);
  assert.equal(lines[0]?.url, '/no/such/route');
  assert.equal(lines[0]?.status, 404);
  assert.doesNotMatch(JSON.stringify(lines), /secret/);
});
