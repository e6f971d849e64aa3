import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { AppError, Bus, createLogger, InProcessTransport, loadConfig } from '@gatehouse/kit';
import { RecordingAuditSink } from '@gatehouse/kit/testing';
import type { FastifyInstance } from 'fastify';
import { userRecord } from '../app.test-support.ts';
import { buildGateway, MemoryRateLimitStore } from '../app.ts';

// POST /auth/login against stand-ins for identity and session: the lockout per
// (account, client) and the device cookie, at the edge, from different socket addresses.

const PASSWORD = 'correct horse battery';
const OWNER = 'owner@example.com';

async function gatewayWith(env: Record<string, string>): Promise<{ app: FastifyInstance; hashed: () => number }> {
  const log = createLogger({ service: 'test', level: 'silent' });
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 2000 });
  let hashed = 0;
  bus.serve('identity.user.authenticate', async (m) => {
    hashed++;
    if (m.email.toLowerCase() !== OWNER || m.password !== PASSWORD) {
      throw new AppError('invalid_credentials', 'wrong email or password');
    }
    return { user: userRecord(OWNER) };
  });
  bus.serve('session.session.create', async () => ({
    access_token: 'a.b.c',
    expires_in: 900,
    refresh_token: 'r',
    session_id: randomUUID(),
  }));
  const { app } = await buildGateway({
    bus,
    log,
    config: loadConfig(env),
    rateLimitStore: new MemoryRateLimitStore(),
    audit: new RecordingAuditSink(),
  });
  return { app, hashed: () => hashed };
}

describe('POST /auth/login: failures count per account and client', () => {
  let app: FastifyInstance;
  let hashed: () => number;
  before(async () => {
    ({ app, hashed } = await gatewayWith({
      LOGIN_FAILURES_PER_ACCOUNT: '3',
      LOGIN_FAILURES_PER_ACCOUNT_UNKNOWN_CLIENTS: '8',
      RATE_LIMIT_PER_IP_PER_MINUTE: '1000',
      PUBLIC_URL: 'https://auth.example.com',
    }));
  });
  after(() => app.close());

  const login = (ip: string, password: string, device?: string, email = OWNER) =>
    app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email, password },
      remoteAddress: ip,
      ...(device ? { headers: { cookie: `gh_device=${device}` } } : {}),
    });
  const deviceOf = (res: Awaited<ReturnType<typeof login>>) => {
    const cookies = [res.headers['set-cookie'] ?? []].flat();
    const device = cookies.find((c) => c.startsWith('gh_device='));
    return { header: device, token: device ? /^gh_device=([^;]+)/.exec(device)?.[1] : undefined };
  };

  test('a right password sets the device cookie: HttpOnly, SameSite=Lax, Secure, for the sign-in only, 180 days', async () => {
    const res = await login('192.0.2.10', PASSWORD);
    assert.equal(res.statusCode, 200, res.body);
    const { header, token } = deviceOf(res);
    assert.ok(header);
    assert.match(token ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(header, /; Path=\/auth\/login(;|$)/);
    assert.match(header, /; Max-Age=15552000(;|$)/);
    assert.match(header, /; HttpOnly/);
    assert.match(header, /; Secure/);
    assert.match(header, /; SameSite=Lax/);
    // A wrong password sets none.
    assert.equal(deviceOf(await login('192.0.2.10', 'wrong password')).header, undefined);
  });

  test("an attacker's failures lock its own address, not the owner's network or known device", async () => {
    const owner = deviceOf(await login('198.51.100.1', PASSWORD)).token;
    assert.ok(owner);
    const before = hashed();
    const attacker = [];
    for (let i = 0; i < 5; i++) attacker.push((await login('203.0.113.66', `guess ${i}`)).statusCode);
    assert.deepEqual(attacker, [401, 401, 401, 429, 429]);
    assert.equal(hashed() - before, 3, 'a refused attempt is not checked');
    const locked = await login('203.0.113.66', PASSWORD);
    assert.equal(locked.statusCode, 429, 'the right password from the locked address, without the cookie');
    assert.ok(Number(locked.headers['retry-after']) > 0);
    // The owner from another address, and with the device cookie from the attacker's own address.
    assert.equal((await login('198.51.100.2', PASSWORD)).statusCode, 200);
    const fromThere = await login('203.0.113.66', PASSWORD, owner);
    assert.equal(fromThere.statusCode, 200, fromThere.body);
    assert.equal(deviceOf(fromThere).token, owner, 'the known device keeps its token');
    // A cookie issued to this account is no known device for another one.
    const other = [];
    for (let i = 0; i < 4; i++) other.push((await login('203.0.113.77', 'x', owner, 'else@example.com')).statusCode);
    assert.deepEqual(other, [401, 401, 401, 429]);
  });

  test('guesses from many addresses lock out strangers, never the known device', async () => {
    const device = deviceOf(await login('198.51.100.9', PASSWORD)).token;
    // Of the strangers' 8, the failures above took 4 (one in the first test, three from the
    // attacker; right passwords give theirs back): 4 are left, then strangers are refused.
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await login(`192.0.2.${100 + i}`, `guess ${i}`)).statusCode);
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429]);
    assert.equal((await login('192.0.2.200', PASSWORD)).statusCode, 429, 'the owner on a new network too');
    assert.equal((await login('192.0.2.200', PASSWORD, device)).statusCode, 200, 'but not on a known device');
  });
});

test('a token-mode and a cookie-mode sign-in both get the device cookie, next to the session cookies', async () => {
  const { app } = await gatewayWith({});
  try {
    for (const mode of ['token', 'cookie'] as const) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: OWNER, password: PASSWORD, auth_mode: mode },
      });
      assert.equal(res.statusCode, 200, res.body);
      const cookies = [res.headers['set-cookie'] ?? []].flat().map((c) => c.split('=')[0]);
      assert.deepEqual(
        cookies.sort(),
        mode === 'token' ? ['gh_device'] : ['gh_access', 'gh_csrf', 'gh_device', 'gh_refresh'],
      );
      assert.ok(!/; Secure/.test(String(res.headers['set-cookie'])), 'not Secure over http');
    }
  } finally {
    await app.close();
  }
});
