import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ERROR_CODES, type ErrorCode, WIRE_ERROR_CODES, WIRE_NAME, wireName } from '@gatehouse/contracts';
import { AppError, Bus, createLogger, InProcessTransport, loadConfig } from '@gatehouse/kit';
import { RecordingAuditSink } from '@gatehouse/kit/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { bareGateway } from '../app.test-support.ts';
import { buildGateway, MemoryRateLimitStore } from '../app.ts';
import { HTTP_STATUS, sendError } from './errors.ts';

// The gateway alone, with no service behind the bus: every error path of the edge.
let app: FastifyInstance;
before(async () => {
  app = await bareGateway();
});
after(() => app.close());

const post = (url: string, payload: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });

function assertErrorBody(res: { statusCode: number; json(): unknown }, status: number, code: string) {
  assert.equal(res.statusCode, status);
  const body = res.json() as Record<string, unknown>;
  assert.equal(body.error, code);
  assert.equal(typeof body.message, 'string');
  for (const key of Object.keys(body)) assert.ok(['error', 'message', 'details'].includes(key), `unexpected ${key}`);
}

test('malformed JSON is 400 invalid_json', async () => {
  assertErrorBody(await post('/auth/login', '{"email": '), 400, 'invalid_json');
});

test('a body over 64 KiB is 413 payload_too_large', async () => {
  const res = await post('/auth/register', JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(70 * 1024) }));
  assertErrorBody(res, 413, 'payload_too_large');
});

test('missing and ill-typed fields are 400 validation_failed naming each field', async () => {
  const res = await post('/auth/register', JSON.stringify({ email: 42, password: 'short' }));
  assertErrorBody(res, 400, 'validation_failed');
  const fields = (res.json() as { details: { field: string }[] }).details.map((d) => d.field);
  assert.ok(fields.includes('email'), fields.join());
  assert.ok(fields.includes('password'), fields.join());
});

test('a password longer than 128 characters is validation_failed', async () => {
  const res = await post('/auth/register', JSON.stringify({ email: 'a@b.co', password: 'p'.repeat(129) }));
  assertErrorBody(res, 400, 'validation_failed');
});

test('an unknown route is 404 not_found', async () => {
  assertErrorBody(await app.inject({ method: 'GET', url: '/nope' }), 404, 'not_found');
});

test('no token and a bad token are 401 unauthorized', async () => {
  assertErrorBody(await app.inject({ method: 'GET', url: '/auth/me' }), 401, 'unauthorized');
  const res = await app.inject({ method: 'GET', url: '/auth/session', headers: { authorization: 'Basic abc' } });
  assertErrorBody(res, 401, 'unauthorized');
});

test('a service that does not answer is 503 with Retry-After, quickly', async () => {
  const started = Date.now();
  const res = await post('/auth/login', JSON.stringify({ email: 'a@b.co', password: 'whatever1' }));
  assertErrorBody(res, 503, 'service_unavailable');
  assert.ok(Number(res.headers['retry-after']) >= 1);
  assert.ok(Date.now() - started < 3000);
});

test('readiness is 503 while the services are missing, liveness is 200', async () => {
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  assertErrorBody(await app.inject({ method: 'GET', url: '/readyz' }), 503, 'service_unavailable');
});

test("the gateway's own readiness ignores the services (every replica shares them), not its own parts", async () => {
  // The services missing: the stack is not ready, this gateway is (what Kubernetes probes).
  const own = await app.inject({ method: 'GET', url: '/readyz/gateway' });
  assert.equal(own.statusCode, 200);
  assert.deepEqual(own.json(), { status: 'ready' });
  const { app: lost, revocations } = await buildGateway({
    bus: new Bus(new InProcessTransport(), createLogger({ service: 'test', level: 'silent' }), { timeoutMs: 200 }),
    log: createLogger({ service: 'test', level: 'silent' }),
    config: loadConfig({}),
    rateLimitStore: new MemoryRateLimitStore(),
    audit: new RecordingAuditSink(),
  });
  try {
    // It lost NATS and has not reloaded its revocation set: it may miss a sign-out, so no traffic.
    revocations.markStale();
    const res = await lost.inject({ method: 'GET', url: '/readyz/gateway' });
    assertErrorBody(res, 503, 'service_unavailable');
    assert.deepEqual((res.json() as { details: unknown }).details, [{ dependency: 'revocation_set' }]);
    assert.equal(res.headers['retry-after'], '2');
    revocations.markSynced(revocations.losses);
    assert.equal((await lost.inject({ method: 'GET', url: '/readyz/gateway' })).statusCode, 200);
  } finally {
    await lost.close();
  }
});

test('the OpenAPI document lists the routes', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    openapi: string;
    paths: Record<string, unknown>;
  };
  assert.equal(doc.openapi, '3.1.0');
  for (const path of ['/auth/register', '/auth/login', '/auth/refresh', '/auth/session', '/auth/me'])
    assert.ok(doc.paths[path], path);
  for (const path of [
    '/auth/password/forgot',
    '/auth/magic-link/verify',
    '/auth/login/mfa',
    '/auth/passkeys/login/verify',
  ])
    assert.ok(doc.paths[path], path);
  assert.equal((await app.inject({ method: 'GET', url: '/docs/' })).statusCode, 200);
});

test('CORS answers only the configured origins', async () => {
  const withCors = await bareGateway({ CORS_ORIGINS: 'https://app.example' });
  const preflight = (origin: string) =>
    withCors.inject({
      method: 'OPTIONS',
      url: '/auth/login',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
  assert.equal((await preflight('https://app.example')).headers['access-control-allow-origin'], 'https://app.example');
  assert.equal((await preflight('https://evil.example')).headers['access-control-allow-origin'], undefined);
  await withCors.close();
});

test('a code the contract spells as another answers with its own status under the wire name', async () => {
  const edge = Fastify();
  edge.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  edge.get('/throw/:code', async (request) => {
    throw new AppError((request.params as { code: ErrorCode }).code, 'refused');
  });
  try {
    const link = await edge.inject({ method: 'GET', url: '/throw/invalid_one_time_token' });
    assertErrorBody(link, 400, 'invalid_token');
    assert.equal(link.headers['www-authenticate'], undefined);
    const mfaToken = await edge.inject({ method: 'GET', url: '/throw/invalid_token' });
    assertErrorBody(mfaToken, 401, 'invalid_token');
    assert.equal(mfaToken.headers['www-authenticate'], 'Bearer');
    assertErrorBody(
      await edge.inject({ method: 'GET', url: '/throw/invalid_sign_in_challenge' }),
      401,
      'invalid_challenge',
    );
    assertErrorBody(await edge.inject({ method: 'GET', url: '/throw/invalid_challenge' }), 400, 'invalid_challenge');
    for (const code of ERROR_CODES) {
      const res = await edge.inject({ method: 'GET', url: `/throw/${code}` });
      assert.equal(res.statusCode, HTTP_STATUS[code], code);
      assert.equal(res.json().error, wireName(code), code);
    }
  } finally {
    await edge.close();
  }
});

test('the OpenAPI document lists every code a client can read, and no internal name', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  const error = findErrorField(doc);
  assert.ok(error, 'the document has an error body');
  assert.deepEqual([...error.enum].sort(), [...WIRE_ERROR_CODES].sort());
  for (const internal of Object.keys(WIRE_NAME)) assert.ok(!error.enum.includes(internal), internal);
});

/** The `error` property of the first error body in the document. */
function findErrorField(node: unknown): { enum: string[] } | undefined {
  if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    const props = o.properties as Record<string, { enum?: string[] }> | undefined;
    if (props?.error?.enum && props.message) return props.error as { enum: string[] };
    for (const v of Object.values(o)) {
      const found = findErrorField(v);
      if (found) return found;
    }
  }
  return undefined;
}
