import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { AppError, Bus, createLogger, type Headers, InProcessTransport, loadConfig } from '@gatehouse/kit';
import { RecordingAuditSink } from '@gatehouse/kit/testing';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { MemoryRateLimitStore, startGateway } from '../app.ts';

// The gateway's revocation set lives on events. While the bus is away, events are lost: after a
// reconnect the gateway must reload the whole list until that succeeds, and while the set is
// stale for longer than an access token lives, it must refuse tokens (503) instead of admitting
// one whose revocation it never heard of.

/** An in-process bus that can lose its connection: events published meanwhile are dropped. */
class FlakyTransport extends InProcessTransport {
  connected = true;
  /** While set, requests fail as they do against an unreachable NATS. */
  failRequests = false;
  readonly #onDisconnect: (() => void)[] = [];
  readonly #onReconnect: (() => void)[] = [];

  override async request(subject: string, body: string, options: { timeoutMs: number; headers: Headers }) {
    if (this.failRequests) throw new AppError('service_unavailable', `${subject} did not answer`);
    return super.request(subject, body, options);
  }
  override async publish(subject: string, body: string, headers: Headers) {
    if (this.connected) await super.publish(subject, body, headers);
  }
  override onDisconnect(listener: () => void): void {
    this.#onDisconnect.push(listener);
  }
  override onReconnect(listener: () => void): void {
    this.#onReconnect.push(listener);
  }
  disconnect(): void {
    this.connected = false;
    for (const l of this.#onDisconnect) l();
  }
  reconnect(): void {
    this.connected = true;
    for (const l of this.#onReconnect) l();
  }
}

const ISSUER = 'http://gatehouse.test';
const PROJECT = '00000000-0000-7000-8000-000000000001';
const TTL_SECONDS = 2;
const log = createLogger({ service: 'test', level: 'silent' });
const transport = new FlakyTransport();
const bus = new Bus(transport, log, { timeoutMs: 200 });
const revoked: { session_id: string; until: number }[] = [];
let sign: (sid: string) => Promise<string>;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let base = '';

before(async () => {
  // The session service's side, as far as the gateway sees it: the JWKS, the revocation list.
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' as const };
  bus.serve('session.jwks.get', async () => ({
    keys: [{ kty: jwk.kty as string, kid: 'k1', alg: 'ES256', use: 'sig', crv: jwk.crv, x: jwk.x, y: jwk.y }],
  }));
  bus.serve('session.revocation.list', async () => ({ revoked }));
  // identity's side: the project directory the gateway loads with the list (no project of its own here).
  bus.serve('identity.project.directory', async () => ({ projects: [] }));
  sign = (sid) =>
    new SignJWT({ sid, role: 'user', amr: ['pwd'], auth_time: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(PROJECT)
      .setSubject(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${TTL_SECONDS}s`)
      .sign(privateKey);
  const config = loadConfig({ PUBLIC_URL: ISSUER, PORT: '0', ACCESS_TOKEN_TTL: String(TTL_SECONDS) });
  gateway = await startGateway({
    bus,
    config,
    log,
    rateLimitStore: new MemoryRateLimitStore(),
    audit: new RecordingAuditSink(),
  });
  const address = gateway.app.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
after(() => gateway?.close());

const check = async (token: string) =>
  (await fetch(`${base}/auth/session`, { headers: { authorization: `Bearer ${token}` } })).status;

async function eventually(ok: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('not in time');
}

test('after the bus comes back, revocations missed meanwhile are loaded, retrying until it answers', async () => {
  const sid = randomUUID();
  const token = await sign(sid);
  assert.equal(await check(token), 200);

  transport.disconnect();
  // Revoked while this gateway was cut off: the event never arrives.
  revoked.push({ session_id: sid, until: Date.now() + 60_000 });
  await bus.publish('events.session.revoked', {
    v: 1,
    user_id: randomUUID(),
    session_ids: [sid],
    until: Date.now() + 60_000,
    reason: 'logout',
  });
  // Within an access token's life the set is still trusted (the hot path needs no bus).
  assert.equal(await check(token), 200);

  // The first reload attempts fail: the gateway keeps trying instead of giving up.
  transport.failRequests = true;
  transport.reconnect();
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(await check(token), 200, 'not reloaded yet');
  transport.failRequests = false;
  await eventually(async () => (await check(token)) === 401, 5_000);
});

test('a set stale for longer than an access token lives refuses tokens with 503, until reloaded', async () => {
  transport.disconnect();
  await new Promise((r) => setTimeout(r, TTL_SECONDS * 1000 + 200));
  // A token issued just now (through another gateway, say): its revocation could be unheard of.
  const fresh = await sign(randomUUID());
  const res = await fetch(`${base}/auth/session`, { headers: { authorization: `Bearer ${fresh}` } });
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { error: string }).error, 'service_unavailable');
  assert.ok(res.headers.get('retry-after'));

  transport.reconnect();
  await eventually(async () => (await check(fresh)) === 200, 5_000);
});
