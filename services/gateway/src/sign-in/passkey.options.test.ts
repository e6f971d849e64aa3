import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Bus, createLogger, InProcessTransport, loadConfig } from '@gatehouse/kit';
import { RecordingAuditSink } from '@gatehouse/kit/testing';
import type { FastifyInstance } from 'fastify';
import { userRecord } from '../app.test-support.ts';
import { buildGateway, MemoryRateLimitStore } from '../app.ts';
import { ANSWER_FLOOR_MS } from '../http/answer-floor.ts';

// POST /auth/passkeys/login/options with an email: a known user's passkeys are looked up (in the
// mfa service), an unknown address gets stand-ins without a lookup. Both must answer no sooner
// than the floor, so the lookup cannot be timed. Stand-ins for identity and mfa here: the known
// user's lookup is made slow on purpose.

const KNOWN = 'known@example.com';
const LOOKUP_MS = 30;
let app: FastifyInstance;

before(async () => {
  const log = createLogger({ service: 'test', level: 'silent' });
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 2000 });
  bus.serve('identity.user.find', async (m) => ({ user: m.email === KNOWN ? userRecord(KNOWN) : null }));
  bus.serve('mfa.passkey.login_options', async (m) => {
    if (m.user_id) await sleep(LOOKUP_MS); // the user's passkeys, from the database
    const allowCredentials = [{ id: randomUUID(), type: 'public-key', transports: ['internal', 'hybrid'] }];
    return {
      challenge_id: randomUUID(),
      options: { challenge: 'c', timeout: 300000, rpId: 'localhost', userVerification: 'required', allowCredentials },
    };
  });
  ({ app } = await buildGateway({
    bus,
    log,
    config: loadConfig({}),
    rateLimitStore: new MemoryRateLimitStore(),
    audit: new RecordingAuditSink(),
  }));
});
after(() => app.close());

async function timed(payload: Record<string, string> | undefined): Promise<{ ms: number; body: object }> {
  const started = performance.now();
  const res = await app.inject({
    method: 'POST',
    url: '/auth/passkeys/login/options',
    ...(payload ? { payload } : {}),
  });
  const ms = performance.now() - started;
  assert.equal(res.statusCode, 200, res.body);
  return { ms, body: res.json() };
}

test('by email, a known and an unknown address both answer after the floor, in the same shape', async () => {
  const known = await timed({ email: KNOWN });
  const unknown = await timed({ email: 'nobody@example.com' });
  // A timer may fire a fraction of a millisecond early against performance.now().
  assert.ok(known.ms >= ANSWER_FLOOR_MS - 1, `known: ${known.ms} ms`);
  assert.ok(unknown.ms >= ANSWER_FLOOR_MS - 1, `unknown: ${unknown.ms} ms (no lookup: only the floor makes it wait)`);
  assert.deepEqual(Object.keys(known.body).sort(), Object.keys(unknown.body).sort());
  // Case and spaces make no difference to which path an address takes.
  assert.ok((await timed({ email: ' Nobody@Example.com ' })).ms >= ANSWER_FLOOR_MS - 1);
});

test('without an email (a discoverable passkey) nothing depends on an account: no floor', async () => {
  // Not a timing of the route: the floor is ANSWER_FLOOR_MS, and this path is a few bus hops in-process.
  const discoverable = await timed(undefined);
  assert.ok(discoverable.ms < ANSWER_FLOOR_MS, `${discoverable.ms} ms`);
});
