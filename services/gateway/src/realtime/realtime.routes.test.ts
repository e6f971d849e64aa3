// GET /auth/events over real HTTP and real WebSockets (the `ws` client), against the gateway on
// an in-process bus: the refusals before the upgrade, every event type, the limits, token
// expiry and renewal, cookie mode's Origin check, heartbeats and the slow consumer. The hub is
// fed here as the bus's events feed it in startGateway; the e2e scenarios cover that wiring
// (and a socket on a second gateway process).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { REALTIME_CLOSE, type RealtimeEvent } from '@gatehouse/contracts/realtime';
import WebSocket from 'ws';
import { type StandInGateway, TEST_PUBLIC_URL, withGateway } from '../app.test-support.ts';

interface Opened {
  ws: WebSocket;
  events: RealtimeEvent[];
  closed: Promise<{ code: number; reason: string }>;
  next(): Promise<RealtimeEvent>;
}

async function listen(gw: StandInGateway): Promise<string> {
  const address = await gw.app.listen({ port: 0, host: '127.0.0.1' });
  return address.replace('http:', 'ws:');
}

/** Opens a socket with `token` as the subprotocols, or `headers`; resolves once it is open. */
async function open(url: string, token?: string, headers: Record<string, string> = {}): Promise<Opened> {
  const ws = new WebSocket(`${url}/auth/events`, token ? ['bearer', token] : [], { headers });
  const events: RealtimeEvent[] = [];
  const waiting: ((e: RealtimeEvent) => void)[] = [];
  ws.on('message', (data) => {
    const event = JSON.parse(String(data)) as RealtimeEvent;
    const waiter = waiting.shift();
    if (waiter) waiter(event);
    else events.push(event);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
  });
  const next = () => {
    const ready = events.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise<RealtimeEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no event within 3 s')), 3000);
      waiting.push((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  };
  return { ws, events, closed, next };
}

/** The refusal of an upgrade: its status and the contract's error body. */
async function refusal(url: string, protocols: string[], headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, protocols, { headers });
  return new Promise<{ status: number; body: { error: string; message: string } }>((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.once('error', () => {});
  });
}

const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  ]);

async function signedIn(gw: StandInGateway, sub = randomUUID(), ttl?: number) {
  const sid = randomUUID();
  return { sub, sid, token: await gw.sign({ sub, sid, ...(ttl === undefined ? {} : { ttl }) }) };
}

describe('GET /auth/events: the upgrade', () => {
  test('bad, expired and revoked tokens are refused with 401 and the error body, before any socket opens', () =>
    withGateway({}, async (gw) => {
      const url = `${await listen(gw)}/auth/events`;
      const none = await refusal(url, []);
      assert.equal(none.status, 401);
      assert.equal(none.body.error, 'unauthorized');
      const junk = await refusal(url, ['bearer', 'not.a.jwt']);
      assert.equal(junk.status, 401);
      assert.equal(junk.body.error, 'unauthorized');
      const expired = await signedIn(gw, randomUUID(), -30);
      const late = await refusal(url, ['bearer', expired.token]);
      assert.equal(late.status, 401);
      assert.equal(late.body.error, 'token_expired');
      const revoked = await signedIn(gw);
      gw.revocations.add(revoked.sid, Date.now() + 60_000);
      const gone = await refusal(url, ['bearer', revoked.token]);
      assert.equal(gone.status, 401);
      assert.match(gone.body.message, /revoked/);
      assert.equal(gw.realtime.size, 0);
    }));

  test('the token as subprotocols selects "bearer"; Authorization works too; a plain GET is 400; other paths 404', () =>
    withGateway({}, async (gw) => {
      const url = await listen(gw);
      const { token } = await signedIn(gw);
      const socket = await open(url, token);
      assert.equal(socket.ws.protocol, 'bearer');
      const byHeader = await open(url, undefined, { authorization: `Bearer ${token}` });
      assert.equal(gw.realtime.size, 2);
      const plain = await fetch(`${url.replace('ws:', 'http:')}/auth/events`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(plain.status, 400);
      assert.equal(((await plain.json()) as { error: string }).error, 'validation_failed');
      const elsewhere = await refusal(`${url}/auth/session`, ['bearer', token]);
      assert.equal(elsewhere.status, 404);
      assert.equal(elsewhere.body.error, 'not_found');
      socket.ws.close();
      byHeader.ws.close();
      await Promise.all([socket.closed, byHeader.closed]);
    }));

  test('cookie mode: the access cookie opens a socket from an allowed page, never from another site', () =>
    withGateway(
      {},
      async (gw) => {
        const url = await listen(gw);
        const { token } = await signedIn(gw);
        const cookie = `gh_access=${token}`;
        const evil = await refusal(`${url}/auth/events`, [], { cookie, origin: 'https://evil.example' });
        assert.equal(evil.status, 403);
        assert.equal(evil.body.error, 'forbidden');
        const socket = await open(url, undefined, { cookie, origin: 'https://app.example' });
        const own = await open(url, undefined, { cookie, origin: TEST_PUBLIC_URL });
        assert.equal(gw.realtime.size, 2);
        socket.ws.close();
        own.ws.close();
      },
      { CORS_ORIGINS: 'https://app.example' },
    ));
});

describe('GET /auth/events: the events', () => {
  test("another device's revocation is heard and the socket stays open; its own ends it (4004)", () =>
    withGateway({}, async (gw) => {
      const url = await listen(gw);
      const phone = await signedIn(gw);
      const laptop = await signedIn(gw, phone.sub);
      const a = await open(url, phone.token);
      const b = await open(url, laptop.token);
      gw.realtime.sessionsRevoked({ user_id: phone.sub, session_ids: [laptop.sid], reason: 'revoked_by_user' });
      assert.deepEqual(await a.next(), { type: 'session_revoked', session_id: laptop.sid, reason: 'revoked_by_user' });
      assert.deepEqual(await b.next(), { type: 'session_revoked', session_id: laptop.sid, reason: 'revoked_by_user' });
      assert.equal((await within(b.closed, 3000, 'own session closed')).code, REALTIME_CLOSE.session_ended);
      assert.equal(a.ws.readyState, WebSocket.OPEN);
      // Another user's events reach nobody here.
      gw.realtime.sessionsRevoked({ user_id: randomUUID(), session_ids: [phone.sid], reason: 'logout' });
      a.ws.send(JSON.stringify({ type: 'ping' }));
      assert.deepEqual(await a.next(), { type: 'pong' });
      a.ws.close();
    }));

  test('sessions_purged and account_deleted close every socket of the user; password_changed closes none', () =>
    withGateway({}, async (gw) => {
      const url = await listen(gw);
      const one = await signedIn(gw);
      const two = await signedIn(gw, one.sub);
      const [a, b] = [await open(url, one.token), await open(url, two.token)];
      gw.realtime.passwordChanged(one.sub);
      assert.deepEqual(await a.next(), { type: 'password_changed' });
      assert.deepEqual(await b.next(), { type: 'password_changed' });
      gw.realtime.sessionsRevoked({
        user_id: one.sub,
        session_ids: [one.sid, two.sid],
        reason: 'logout_all',
        all: true,
      });
      assert.deepEqual(await a.next(), { type: 'sessions_purged', reason: 'logout_all' });
      assert.deepEqual(await b.next(), { type: 'sessions_purged', reason: 'logout_all' });
      for (const s of [a, b]) assert.equal((await within(s.closed, 3000, 'purge')).code, REALTIME_CLOSE.session_ended);

      const three = await signedIn(gw);
      const c = await open(url, three.token);
      gw.realtime.accountDeleted(three.sub);
      assert.deepEqual(await c.next(), { type: 'account_deleted' });
      assert.equal((await within(c.closed, 3000, 'deletion')).code, REALTIME_CLOSE.session_ended);
      assert.equal(gw.realtime.size, 0);
    }));
});

describe('GET /auth/events: limits and liveness', () => {
  test('a socket past the per-user limit is refused 429 until one closes; the per-address limit too', () =>
    withGateway(
      {},
      async (gw) => {
        const url = await listen(gw);
        const user = await signedIn(gw);
        const first = await open(url, user.token, { 'x-forwarded-for': '10.0.0.1' });
        await open(url, user.token, { 'x-forwarded-for': '10.0.0.2' });
        const third = await refusal(`${url}/auth/events`, ['bearer', user.token], { 'x-forwarded-for': '10.0.0.3' });
        assert.equal(third.status, 429);
        assert.equal(third.body.error, 'rate_limited');
        first.ws.close();
        await first.closed;
        await within(
          (async () => {
            while (gw.realtime.socketsOf(user.sub) !== 1) await new Promise((r) => setTimeout(r, 20));
          })(),
          2000,
          'the closed socket released',
        );
        await open(url, user.token, { 'x-forwarded-for': '10.0.0.3' });
        // Three users from one address: the third is refused.
        const ip = { 'x-forwarded-for': '10.9.9.9' };
        await open(url, (await signedIn(gw)).token, ip);
        await open(url, (await signedIn(gw)).token, ip);
        const crowd = await refusal(`${url}/auth/events`, ['bearer', (await signedIn(gw)).token], ip);
        assert.equal(crowd.status, 429);
        gw.realtime.closeAll(REALTIME_CLOSE.going_away, 'test over');
      },
      { REALTIME_SOCKETS_PER_USER: '2', REALTIME_SOCKETS_PER_IP: '2', TRUST_PROXY: 'true' },
    ));

  test('the socket closes (4001) when its token expires, unless a fresh token of its session comes first', () =>
    withGateway({}, async (gw) => {
      const url = await listen(gw);
      const user = await signedIn(gw, randomUUID(), 2);
      const expiring = await open(url, user.token);
      const started = Date.now();
      assert.equal((await within(expiring.closed, 5000, 'expiry')).code, REALTIME_CLOSE.token_expired);
      assert.ok(Date.now() - started >= 800, 'not before the token expired');

      const renewed = await signedIn(gw, randomUUID(), 2);
      const socket = await open(url, renewed.token);
      const fresh = await gw.sign({ sub: renewed.sub, sid: renewed.sid, ttl: 60 });
      socket.ws.send(JSON.stringify({ type: 'auth', token: fresh }));
      const ok = await socket.next();
      assert.equal(ok.type, 'auth_ok');
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(socket.ws.readyState, WebSocket.OPEN, 'alive past the first token');
      // A token of another session (or a junk one) is refused, and the socket with it.
      const other = await gw.sign({ sub: renewed.sub, sid: randomUUID() });
      socket.ws.send(JSON.stringify({ type: 'auth', token: other }));
      assert.equal((await within(socket.closed, 3000, 'refusal')).code, REALTIME_CLOSE.token_refused);
      const junk = await open(url, (await signedIn(gw)).token);
      junk.ws.send('not json');
      assert.equal((await within(junk.closed, 3000, 'bad message')).code, REALTIME_CLOSE.bad_message);
    }));

  test('a peer that stops answering pings is dropped at the next heartbeat', () =>
    withGateway({}, async (gw) => {
      const url = await listen(gw);
      const user = await signedIn(gw);
      const live = await open(url, user.token);
      const dead = await open(url, (await signedIn(gw, user.sub)).token);
      // The dead peer reads nothing (so it answers no ping); the live one answers by itself.
      (dead.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      assert.equal(gw.realtime.heartbeat(), 0);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(gw.realtime.heartbeat(), 1);
      assert.equal(gw.realtime.socketsOf(user.sub), 1);
      assert.equal(live.ws.readyState, WebSocket.OPEN);
      live.ws.close();
    }));

  test('a client that does not read is dropped (4008), never buffered without bound; a reading one stays', () =>
    withGateway(
      {},
      async (gw) => {
        const url = await listen(gw);
        const user = await signedIn(gw);
        const reader = await open(url, user.token);
        const slow = await open(url, (await signedIn(gw, user.sub)).token);
        (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
        const ids = Array.from({ length: 500 }, () => randomUUID());
        let heard = 0;
        reader.ws.on('message', () => heard++);
        // Bursts of 500 events (~60 KB), until the kernel's buffers are full and the slow
        // socket's backlog passes the limit: bounded at 20 s.
        const end = Date.now() + 20_000;
        while (gw.realtime.socketsOf(user.sub) === 2 && Date.now() < end) {
          gw.realtime.sessionsRevoked({ user_id: user.sub, session_ids: ids, reason: 'flood' });
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(gw.realtime.socketsOf(user.sub), 1, 'the slow socket was dropped');
        assert.equal(reader.ws.readyState, WebSocket.OPEN);
        assert.ok(heard > 0);
        (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
        const { code } = await within(slow.closed, 5000, 'the slow socket closed');
        assert.ok(code === REALTIME_CLOSE.slow_consumer || code === 1006, `closed with ${code}`);
        reader.ws.close();
      },
      { REALTIME_MAX_BUFFERED_BYTES: '65536' },
    ));

  test('a gateway that stops tells every socket to go elsewhere (1001)', async () => {
    let closed: Promise<{ code: number }> | undefined;
    await withGateway({}, async (gw) => {
      const url = await listen(gw);
      const socket = await open(url, (await signedIn(gw)).token);
      closed = socket.closed;
    });
    assert.equal((await within(closed as Promise<{ code: number }>, 3000, 'shutdown')).code, 1001);
  });
});
