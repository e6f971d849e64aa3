import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { REALTIME_CLOSE, type RealtimeEvent } from '@gatehouse/contracts/realtime';
import WebSocket from 'ws';
import { adminBan } from './admin-scenarios.ts';
import { claimsOf, client, uniqueEmail } from './client.ts';

const PASSWORD = 'correct horse battery';

/** A realtime socket as a client holds it: the events heard (with when), and its close. */
export interface Listener {
  ws: WebSocket;
  /** Resolves with the next event of `type`, and the time it arrived (ms). */
  next(type: RealtimeEvent['type'], ms?: number): Promise<{ event: RealtimeEvent; at: number }>;
  closed: Promise<{ code: number; at: number }>;
  heard: RealtimeEvent[];
}

/** Opens `GET /auth/events` on `base` with `token` (subprotocols `bearer, <token>`); resolves once open. */
export async function listen(base: string, token: string): Promise<Listener> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/auth/events`, ['bearer', token], {
    headers: { 'x-forwarded-for': `10.77.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` },
  });
  const heard: RealtimeEvent[] = [];
  const arrivals: { event: RealtimeEvent; at: number }[] = [];
  const waiters: { type: string; resolve: (v: { event: RealtimeEvent; at: number }) => void }[] = [];
  ws.on('message', (data) => {
    const event = JSON.parse(String(data)) as RealtimeEvent;
    const arrival = { event, at: Date.now() };
    heard.push(event);
    const i = waiters.findIndex((w) => w.type === event.type);
    if (i >= 0) waiters.splice(i, 1)[0]?.resolve(arrival);
    else arrivals.push(arrival);
  });
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    ws.on('close', (code) => resolve({ code, at: Date.now() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`the upgrade was refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return {
    ws,
    heard,
    closed,
    next: (type, ms = 3000) => {
      const i = arrivals.findIndex((a) => a.event.type === type);
      if (i >= 0) return Promise.resolve(arrivals.splice(i, 1)[0] as { event: RealtimeEvent; at: number });
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${type} within ${ms} ms (heard ${JSON.stringify(heard)})`)),
          ms,
        );
        waiters.push({
          type,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
        });
      });
    },
  };
}

/** The status and error code of a refused upgrade. */
export async function refusedUpgrade(base: string, protocols: string[]): Promise<{ status: number; error: string }> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/auth/events`, protocols);
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, error: (JSON.parse(text) as { error: string }).error }),
      );
    });
  });
}

async function twoDevices(base: string) {
  const c = client(base);
  const email = uniqueEmail('rt');
  const reg = await c.post('/auth/register', { email, password: PASSWORD });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const login = await c.post('/auth/login', { email, password: PASSWORD });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  return {
    c,
    email,
    userId: (reg.body.user as { id: string }).id,
    phone: reg.body.access_token as string,
    laptop: login.body.access_token as string,
  };
}

/**
 * The realtime channel over a real Gatehouse: every change is made through
 * `base` and heard on sockets of `other` (the second gateway process in the
 * stack), within a second of the answer of the call that made it.
 */
export function realtimeScenarios(name: string, base: () => string, other: () => string): void {
  describe(`${name}: realtime session events`, () => {
    test('no token, a bad one or a revoked one is refused 401 before the upgrade', async () => {
      assert.deepEqual(await refusedUpgrade(other(), []), { status: 401, error: 'unauthorized' });
      assert.deepEqual(await refusedUpgrade(other(), ['bearer', 'x.y.z']), { status: 401, error: 'unauthorized' });
      const { c, phone } = await twoDevices(base());
      assert.equal((await c.post('/auth/logout', undefined, phone)).status, 204);
      assert.deepEqual(await refusedUpgrade(other(), ['bearer', phone]), { status: 401, error: 'unauthorized' });
    });

    test("another device's logout is heard on the other replica within 1 s; only its own socket closes", async () => {
      const { c, phone, laptop } = await twoDevices(base());
      const onPhone = await listen(other(), phone);
      const onLaptop = await listen(other(), laptop);
      const out = await c.post('/auth/logout', undefined, laptop);
      assert.equal(out.status, 204);
      const answered = Date.now();
      const heard = await onPhone.next('session_revoked');
      assert.deepEqual(heard.event, { type: 'session_revoked', session_id: claimsOf(laptop).sid, reason: 'logout' });
      assert.ok(heard.at - answered < 1000, `heard after ${heard.at - answered} ms`);
      await onLaptop.next('session_revoked');
      assert.equal((await onLaptop.closed).code, REALTIME_CLOSE.session_ended);
      assert.equal(onPhone.ws.readyState, WebSocket.OPEN);
      onPhone.ws.close();
    });

    test('logout everywhere purges every socket of the user, on every replica', async () => {
      const { c, phone, laptop } = await twoDevices(base());
      const here = await listen(base(), phone);
      const there = await listen(other(), laptop);
      assert.equal((await c.post('/auth/logout-all', undefined, phone)).status, 200);
      const answered = Date.now();
      for (const socket of [here, there]) {
        const { event, at } = await socket.next('sessions_purged');
        assert.deepEqual(event, { type: 'sessions_purged', reason: 'logout_all' });
        assert.ok(at - answered < 1000, `heard after ${at - answered} ms`);
        assert.equal((await socket.closed).code, REALTIME_CLOSE.session_ended);
      }
    });

    test('a password change is heard by every socket; the other devices are signed out, this one stays', async () => {
      const { c, phone, laptop } = await twoDevices(base());
      const onPhone = await listen(other(), phone);
      const onLaptop = await listen(other(), laptop);
      const changed = await c.post(
        '/auth/password/change',
        { current_password: PASSWORD, new_password: 'another horse battery' },
        phone,
      );
      assert.equal(changed.status, 204, JSON.stringify(changed.body));
      await onPhone.next('password_changed');
      await onLaptop.next('password_changed');
      const revoked = await onPhone.next('session_revoked');
      assert.deepEqual(revoked.event, {
        type: 'session_revoked',
        session_id: claimsOf(laptop).sid,
        reason: 'password_changed',
      });
      assert.equal((await onLaptop.closed).code, REALTIME_CLOSE.session_ended);
      assert.equal(onPhone.ws.readyState, WebSocket.OPEN);
      onPhone.ws.close();
    });

    test('a deleted account and a ban end every socket of the user', async () => {
      const deleted = await twoDevices(base());
      const socket = await listen(other(), deleted.laptop);
      assert.equal((await deleted.c.del('/auth/me', deleted.phone, { password: PASSWORD })).status, 204);
      // Identity's deletion and the session service's purge race: whichever comes first ends the socket.
      assert.equal((await socket.closed).code, REALTIME_CLOSE.session_ended);
      const ending = socket.heard.at(-1);
      assert.ok(
        ending?.type === 'account_deleted' ||
          (ending?.type === 'sessions_purged' && ending.reason === 'account_deleted'),
        JSON.stringify(socket.heard),
      );

      const banned = await twoDevices(base());
      const bannedSocket = await listen(other(), banned.phone);
      await adminBan(base(), banned.userId);
      const { event } = await bannedSocket.next('sessions_purged');
      assert.deepEqual(event, { type: 'sessions_purged', reason: 'banned' });
      assert.equal((await bannedSocket.closed).code, REALTIME_CLOSE.session_ended);
    });

    test('a fresh token after a refresh keeps the socket; ping is answered', async () => {
      const c = client(base());
      const reg = await c.post('/auth/register', { email: uniqueEmail('rt'), password: PASSWORD });
      const socket = await listen(other(), reg.body.access_token as string);
      const refreshed = await c.post('/auth/refresh', { refresh_token: reg.body.refresh_token });
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      socket.ws.send(JSON.stringify({ type: 'auth', token: refreshed.body.access_token }));
      const { event } = await socket.next('auth_ok');
      assert.equal((event as { expires_at: number }).expires_at, claimsOf(refreshed.body.access_token as string).exp);
      socket.ws.send(JSON.stringify({ type: 'ping' }));
      await socket.next('pong');
      socket.ws.close();
    });
  });
}
