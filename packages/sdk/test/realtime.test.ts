import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createClient, memoryStorage, REALTIME_CLOSE, type RealtimeEvent, type User } from '../src/index.ts';
import { jwtClaims } from '../src/jwt.ts';
import { fakeGatehouse, fakeWebSockets, until } from './fake-gatehouse.ts';

const PASSWORD = 'correct horse battery';
const BASE = 'http://gatehouse.test';

async function connected(options: { ping?: { intervalMs: number; timeoutMs: number } } = {}) {
  const server = fakeGatehouse();
  const ws = fakeWebSockets();
  const storage = memoryStorage();
  let offset = 0;
  const client = createClient({
    url: BASE,
    fetch: server.fetch,
    storage,
    WebSocket: ws.WebSocket,
    reconnect: { baseMs: 10, maxMs: 40 },
    clock: () => Date.now() + offset,
    ...(options.ping ? { ping: options.ping } : {}),
  });
  const seen: (User | null)[] = [];
  const events: RealtimeEvent[] = [];
  client.onAuthChange((u) => seen.push(u));
  client.onEvent((e) => events.push(e));
  await client.login({ email: 'ada@example.com', password: PASSWORD });
  await until(() => ws.sockets.length === 1 && ws.sockets[0]?.readyState === 1, 2000, 'the socket opens');
  const sid = jwtClaims(String(await client.getAccessToken()))?.sid as string;
  return { server, ws, storage, client, seen, events, sid, expire: () => (offset += 901_000) };
}

describe('realtime', () => {
  test('connects when signed in with the subprotocols bearer + the access token, after checking the session', async () => {
    const { server, ws, client } = await connected();
    const socket = ws.sockets[0];
    assert.equal(socket?.url, 'ws://gatehouse.test/auth/events');
    assert.deepEqual(socket?.protocols, ['bearer', await client.getAccessToken()]);
    assert.equal(server.callsTo('GET', '/auth/session').length, 1, 'the session was checked before connecting');
    assert.equal(client.realtimeStatus, 'open');
    client.close();
  });

  test('after every refresh the socket gets `auth` with the fresh token', async () => {
    const { ws, client } = await connected();
    assert.equal(await client.refreshSession(), true);
    const token = await client.getAccessToken();
    assert.deepEqual(ws.sockets[0]?.sent.at(-1), { type: 'auth', token });
    assert.equal(ws.sockets.length, 1, 'the same socket lives on');
    client.close();
  });

  test('session_revoked for its own session: tokens cleared, onAuthChange(null), no reconnect', async () => {
    const { ws, client, storage, seen, events, sid } = await connected();
    ws.sockets[0]?.push({ type: 'session_revoked', session_id: sid, reason: 'revoked_by_user' });
    assert.equal(events.at(-1)?.type, 'session_revoked');
    await until(() => seen.at(-1) === null, 1000, 'signed out');
    assert.equal(await storage.get('session'), null);
    assert.equal(client.isAuthenticated(), false);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(ws.sockets.length, 1, 'no new socket');
    client.close();
  });

  test('session_revoked of another session of the user: an event, nothing more', async () => {
    const { ws, client, seen, events } = await connected();
    ws.sockets[0]?.push({ type: 'session_revoked', session_id: 'another-session', reason: 'logout' });
    ws.sockets[0]?.push({ type: 'password_changed' });
    assert.deepEqual(
      events.map((e) => e.type),
      ['session_revoked', 'password_changed'],
    );
    assert.equal(seen.length, 1);
    assert.equal(client.isAuthenticated(), true);
    client.close();
  });

  for (const type of ['sessions_purged', 'account_deleted'] as const) {
    test(`${type}: signed out`, async () => {
      const { ws, client, storage, seen } = await connected();
      ws.sockets[0]?.push(type === 'sessions_purged' ? { type, reason: 'logout_all' } : { type });
      await until(() => seen.at(-1) === null, 1000, 'signed out');
      assert.equal(await storage.get('session'), null);
      client.close();
    });
  }

  test('close session_ended: signed out, never reconnected', async () => {
    const { ws, client, seen } = await connected();
    ws.sockets[0]?.serverClose(REALTIME_CLOSE.session_ended);
    await until(() => seen.at(-1) === null, 1000, 'signed out');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(ws.sockets.length, 1);
    client.close();
  });

  test('any other close: reconnects with backoff, re-checking (and refreshing) the session first', async () => {
    const { server, ws, client, expire } = await connected();
    const checks = server.callsTo('GET', '/auth/session').length;
    expire();
    ws.sockets[0]?.serverClose(REALTIME_CLOSE.token_expired);
    await until(() => ws.sockets.length === 2 && ws.sockets[1]?.readyState === 1, 2000, 'reconnected');
    assert.equal(server.callsTo('GET', '/auth/session').length, checks + 1, 'checked again');
    assert.equal(server.callsTo('POST', '/auth/refresh').length, 1, 'refreshed before the check');
    assert.deepEqual(ws.sockets[1]?.protocols, ['bearer', await client.getAccessToken()]);
    ws.sockets[1]?.serverClose(REALTIME_CLOSE.going_away);
    await until(() => ws.sockets.length === 3, 2000, 'reconnected again');
    assert.equal(client.isAuthenticated(), true);
    client.close();
  });

  test('a reconnect whose session check fails (revoked meanwhile): signed out, no socket', async () => {
    const { server, ws, client, seen, sid } = await connected();
    server.revokeSession(sid);
    ws.sockets[0]?.serverClose(1006);
    await until(() => seen.at(-1) === null, 2000, 'signed out');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(ws.sockets.length, 1);
    client.close();
  });

  test('heartbeat: ping sent, a socket with no answer dropped and replaced', async () => {
    const { ws, client } = await connected({ ping: { intervalMs: 20, timeoutMs: 30 } });
    await until(() => (ws.sockets[0]?.sent ?? []).some((m) => m.type === 'ping'), 1000, 'a ping');
    // No pong: the client gives the socket up and opens another.
    await until(() => ws.sockets.length >= 2, 2000, 'a new socket after the silence');
    client.close();
  });

  test('heartbeat: a pong keeps the socket', async () => {
    const { ws, client } = await connected({ ping: { intervalMs: 20, timeoutMs: 60 } });
    const socket = ws.sockets[0];
    const answer = setInterval(() => socket?.push({ type: 'pong' }), 10);
    await new Promise((r) => setTimeout(r, 250));
    clearInterval(answer);
    assert.equal(ws.sockets.length, 1);
    client.close();
  });

  test('logout closes the socket; no reconnect', async () => {
    const { ws, client } = await connected();
    await client.logout();
    assert.equal(ws.sockets[0]?.closedByClient, 1000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(ws.sockets.length, 1);
    assert.equal(client.realtimeStatus, 'stopped');
  });
});
