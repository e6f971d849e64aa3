import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { bareGateway } from '../app.test-support.ts';

// Trust: a body field the route does not name must never reach the bus, where it could
// override the caller's identity (PATCH /auth/me {"user_id": <someone else>} renamed that user).
// Every route that changes state takes a body schema, and every body schema is closed.

let app: FastifyInstance;
before(async () => {
  app = await bareGateway();
  await app.ready();
});
after(() => app.close());

interface Operation {
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
}

function operations(): { method: string; path: string; op: Operation }[] {
  const doc = app.swagger() as { paths: Record<string, Record<string, Operation>> };
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
  );
}

test('every POST, PATCH and DELETE route declares a closed body schema', () => {
  const changing = operations().filter(({ method }) => ['POST', 'PATCH', 'DELETE'].includes(method));
  assert.ok(changing.length >= 25, `only ${changing.length} state-changing routes found`);
  for (const { method, path, op } of changing) {
    const schema = op.requestBody?.content['application/json']?.schema;
    assert.ok(schema, `${method} ${path} has no body schema`);
    assert.equal(schema.additionalProperties, false, `${method} ${path} accepts fields it does not name`);
  }
});

test('a field the route does not name is refused with the contract error, before anything else', async () => {
  const foreign = {
    user_id: '00000000-0000-7000-8000-00000000dead',
    project_id: '00000000-0000-7000-8000-00000000beef',
    session_id: '00000000-0000-7000-8000-00000000cafe',
  };
  const cases: { method: 'POST' | 'PATCH' | 'DELETE'; url: string; body: Record<string, unknown> }[] = [
    { method: 'PATCH', url: '/auth/me', body: { name: 'pwned' } },
    { method: 'POST', url: '/auth/password/change', body: { current_password: 'x', new_password: 'long enough pw' } },
    { method: 'DELETE', url: '/auth/me', body: { password: 'x' } },
    { method: 'POST', url: '/auth/logout', body: {} },
    { method: 'POST', url: '/auth/logout-all', body: {} },
    { method: 'POST', url: '/auth/refresh', body: { refresh_token: 'abc' } },
    { method: 'POST', url: '/auth/password/reset', body: { token: 'abc', password: 'long enough pw' } },
    { method: 'POST', url: '/auth/mfa/totp/disable', body: { code: '123456' } },
  ];
  for (const { method, url, body } of cases) {
    for (const [field, value] of Object.entries(foreign)) {
      const res = await app.inject({ method, url, payload: { ...body, [field]: value } });
      assert.equal(res.statusCode, 400, `${method} ${url} with ${field}: ${res.body}`);
      const error = res.json() as { error: string; details: { field: string }[] };
      assert.equal(error.error, 'validation_failed');
      assert.deepEqual(
        error.details.map((d) => d.field),
        [field],
        `${method} ${url}: ${res.body}`,
      );
    }
  }
});
