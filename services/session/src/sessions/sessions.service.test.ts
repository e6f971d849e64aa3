import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import type { EventOf } from '@gatehouse/contracts';
import { Bus, createLogger, InProcessTransport, isAppError, loadConfig } from '@gatehouse/kit';
import { RecordingAuditSink } from '@gatehouse/kit/testing';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startSession } from '../app.ts';
import { MAX_CHAIN_WALK } from './sessions.service.ts';
import { MemorySessionStore } from './sessions.store.memory.ts';
import { childToken, refreshChainKey, shardOf } from './sessions.tokens.ts';

const log = createLogger({ service: 'test', level: 'silent' });
const PUBLIC_URL = 'https://auth.example.test';

/** The service on an in-process bus with a memory store and a clock the test moves. */
async function harness(env: Record<string, string> = {}) {
  const clock = { now: Date.UTC(2025, 0, 1) };
  const config = loadConfig({ PUBLIC_URL, ACCESS_TOKEN_TTL: '900', REFRESH_REUSE_INTERVAL: '10', ...env });
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 2000 });
  const secretKey = randomBytes(32);
  const store = new MemorySessionStore();
  const audit = new RecordingAuditSink();
  const service = await startSession({
    bus,
    sessionStore: store,
    keyStore: store,
    config,
    log,
    secretKey,
    audit,
    now: () => clock.now,
  });
  const revoked: EventOf<'events.session.revoked'>[] = [];
  const rotated: string[] = [];
  bus.subscribe('events.session.revoked', (event) => void revoked.push(event));
  bus.subscribe('events.keys.rotated', (event) => void rotated.push(event.kid));
  const signIn = (userId = randomUUID(), projectId = randomUUID()) =>
    bus.request('session.session.create', {
      user_id: userId,
      project_id: projectId,
      role: 'user',
      amr: ['pwd', 'otp'],
      ip: '203.0.113.9',
      user_agent: 'test',
    });
  const verify = async (token: string, audience: string) => {
    const { keys } = await bus.request('session.jwks.get', {});
    return jwtVerify(token, createLocalJWKSet({ keys }), {
      issuer: PUBLIC_URL,
      audience,
      currentDate: new Date(clock.now),
    });
  };
  const kids = async () => (await bus.request('session.jwks.get', {})).keys.map((k) => k.kid);
  const refresh = (token: string) => bus.request('session.session.refresh', { refresh_token: token });
  const refused = (token: string) => assert.rejects(refresh(token), (err) => isAppError(err, 'invalid_grant'));
  return { bus, clock, service, revoked, rotated, audit, signIn, verify, kids, config, secretKey, refresh, refused };
}

describe('session service', () => {
  test('issues access tokens whose claims and signature verify against the JWKS', async () => {
    const h = await harness();
    const userId = randomUUID();
    const projectId = randomUUID();
    const created = await h.signIn(userId, projectId);
    const signedInAt = Math.floor(h.clock.now / 1000);
    assert.equal(created.expires_in, 900);
    // Its user's shard (the store's hash tag), a dot, 256 bits.
    assert.match(created.refresh_token, /^[0-9a-f]{2}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(created.refresh_token.slice(0, 2), shardOf(userId));

    h.clock.now += 60_000;
    const refreshed = await h.bus.request('session.session.refresh', { refresh_token: created.refresh_token });
    assert.equal(refreshed.session_id, created.session_id);
    assert.equal(refreshed.user_id, userId);
    assert.equal(refreshed.project_id, projectId);
    assert.notEqual(refreshed.refresh_token, created.refresh_token);

    const { payload, protectedHeader } = await h.verify(refreshed.access_token, projectId);
    const iat = Math.floor(h.clock.now / 1000);
    assert.deepEqual(payload, {
      iss: PUBLIC_URL,
      aud: projectId,
      sub: userId,
      sid: created.session_id,
      role: 'user',
      amr: ['pwd', 'otp'],
      auth_time: signedInAt,
      iat,
      exp: iat + 900,
    });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(protectedHeader.typ, 'JWT');
    assert.deepEqual(await h.kids(), [protectedHeader.kid]);
    const [jwk] = (await h.bus.request('session.jwks.get', {})).keys;
    assert.deepEqual(Object.keys(jwk ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });

  test('a key rotation keeps the old kid in the JWKS until its last token expires, then drops it', async () => {
    const h = await harness();
    const before = await h.signIn();
    const oldKid = decodeProtectedHeader(before.access_token).kid;
    await h.service.rotateKeys();
    const newKid = h.rotated[0];
    assert.ok(newKid && newKid !== oldKid);
    assert.deepEqual((await h.kids()).sort(), [oldKid, newKid].sort());
    const after = await h.signIn();
    assert.equal(decodeProtectedHeader(after.access_token).kid, newKid);

    h.clock.now += 900_000 + 59_000; // the old key's last token has expired, skew not yet
    assert.ok((await h.kids()).includes(oldKid as string));
    h.clock.now += 1_000;
    assert.deepEqual(await h.kids(), [newKid]);
  });

  test('refuses a refresh token replayed after the grace window, revokes the session and says so', async () => {
    const h = await harness();
    const userId = randomUUID();
    const created = await h.signIn(userId);
    await h.signIn(userId); // a second session that must survive
    await h.bus.request('session.session.refresh', { refresh_token: created.refresh_token });
    h.clock.now += 5_000; // a second tab, within the window
    await h.bus.request('session.session.refresh', { refresh_token: created.refresh_token });
    h.clock.now += 5_001; // now past 10 s since the rotation

    await assert.rejects(h.bus.request('session.session.refresh', { refresh_token: created.refresh_token }), (err) =>
      isAppError(err, 'invalid_grant'),
    );
    const until = h.clock.now + 900_000 + 60_000;
    assert.deepEqual(h.revoked, [
      { v: 1, user_id: userId, session_ids: [created.session_id], until, reason: 'refresh_token_reuse' },
    ]);
    const { sessions } = await h.bus.request('session.session.list', { user_id: userId });
    assert.equal(sessions.length, 1);
    assert.notEqual(sessions[0]?.id, created.session_id);
    const { revoked } = await h.bus.request('session.revocation.list', {});
    assert.deepEqual(revoked, [{ session_id: created.session_id, until }]);
  });

  test('two refreshes of one token within the window get the same refresh token: one chain, which lives on', async () => {
    const h = await harness();
    const userId = randomUUID();
    const created = await h.signIn(userId);
    h.clock.now += 1_000;
    const tab1 = await h.refresh(created.refresh_token);
    // The successor is HMAC-SHA256 of the token under the key HKDF derives from SECRET_KEY.
    assert.equal(tab1.refresh_token, childToken(refreshChainKey(h.secretKey), created.refresh_token));
    assert.match(tab1.refresh_token, /^[0-9a-f]{2}\.[A-Za-z0-9_-]{43}$/);
    h.clock.now += 2_000;
    const tab2 = await h.refresh(created.refresh_token);
    assert.equal(tab2.refresh_token, tab1.refresh_token);
    assert.equal(tab2.session_id, created.session_id);
    assert.notEqual(tab2.access_token, tab1.access_token); // a fresh access token for the same session
    assert.equal((await h.verify(tab2.access_token, tab2.project_id)).payload.sid, created.session_id);

    h.clock.now += 10_000; // the first token's window has closed
    const next = await h.refresh(tab1.refresh_token);
    assert.notEqual(next.refresh_token, tab1.refresh_token);
    // The second tab holds the same token as the first: it follows the one chain.
    assert.equal((await h.refresh(tab2.refresh_token)).refresh_token, next.refresh_token);
    await h.refused(created.refresh_token); // the first token again: reuse, the session ends
    await h.refused(next.refresh_token);
    assert.deepEqual(
      h.revoked.map((e) => [e.session_ids, e.reason]),
      [[[created.session_id], 'refresh_token_reuse']],
    );
  });

  test('a tab that had moved on twice: the other tab’s old token is answered with the chain’s current one', async () => {
    const h = await harness();
    const created = await h.signIn();
    const r1 = await h.refresh(created.refresh_token);
    h.clock.now += 1_000;
    const r2 = await h.refresh(r1.refresh_token);
    h.clock.now += 1_000;
    const r3 = await h.refresh(r2.refresh_token);
    h.clock.now += 1_000;
    const late = await h.refresh(created.refresh_token);
    assert.equal(late.refresh_token, r3.refresh_token);
    assert.equal(late.session_id, created.session_id);
    assert.equal((await h.refresh(r1.refresh_token)).refresh_token, r3.refresh_token);
    const r4 = await h.refresh(r3.refresh_token);
    assert.notEqual(r4.refresh_token, r3.refresh_token);
    assert.equal(h.revoked.length, 0);
  });

  test('records a replayed refresh token in the audit log: user, project, where from, why, and never a token', async () => {
    const h = await harness();
    const userId = randomUUID();
    const projectId = randomUUID();
    const created = await h.signIn(userId, projectId);
    const client = { project_id: projectId, ip: '198.51.100.4', user_agent: 'Thief/1.0' };
    const rotated = await h.bus.request('session.session.refresh', { refresh_token: created.refresh_token, ...client });
    assert.equal(h.audit.events.length, 0, 'a rotation is no event');
    h.clock.now += 10_001; // past the grace window
    await assert.rejects(
      h.bus.request('session.session.refresh', { refresh_token: created.refresh_token, ...client }),
      (err) => isAppError(err, 'invalid_grant'),
    );
    assert.equal(h.audit.events.length, 1);
    const [event] = h.audit.events;
    assert.equal(event?.type, 'refresh_token.reused');
    assert.equal(event?.project_id, projectId);
    assert.equal(event?.user_id, userId);
    assert.equal(event?.ip, '198.51.100.4');
    assert.equal(event?.user_agent, 'Thief/1.0');
    assert.equal(event?.at, new Date(h.clock.now).toISOString());
    assert.deepEqual(event?.data, { session_id: created.session_id, cause: 'replayed' });
    const json = JSON.stringify(h.audit.events);
    for (const secret of [created.refresh_token, rotated.refresh_token, created.access_token, rotated.access_token])
      assert.ok(!json.includes(secret));
  });

  test(`the walk is bounded: ${MAX_CHAIN_WALK} rotations within a window are followed, one more ends the session`, async () => {
    const h = await harness();
    const created = await h.signIn();
    const chain = [created.refresh_token];
    for (let n = 0; n < MAX_CHAIN_WALK; n++) {
      h.clock.now += 100;
      chain.push((await h.refresh(chain.at(-1) as string)).refresh_token);
    }
    h.clock.now += 100;
    assert.equal((await h.refresh(created.refresh_token)).refresh_token, chain.at(-1));
    const beyond = await h.refresh(chain.at(-1) as string);
    // Still within the first token's window, but too far down: not two tabs. The session goes.
    await h.refused(created.refresh_token);
    await h.refused(beyond.refresh_token);
    assert.deepEqual(
      h.revoked.map((e) => [e.session_ids, e.reason]),
      [[[created.session_id], 'refresh_token_reuse']],
    );
    // Requests that name no project (as this harness sends them) are not audited, and say so in the log.
    assert.deepEqual(h.audit.events, []);
  });

  test('unknown refresh tokens are invalid_grant, and so are tokens past the idle lifetime', async () => {
    const h = await harness({ REFRESH_TOKEN_TTL: '3600' });
    await assert.rejects(h.bus.request('session.session.refresh', { refresh_token: 'nope' }), (err) =>
      isAppError(err, 'invalid_grant'),
    );
    const created = await h.signIn();
    h.clock.now += 3_600_000;
    await assert.rejects(h.bus.request('session.session.refresh', { refresh_token: created.refresh_token }), (err) =>
      isAppError(err, 'invalid_grant'),
    );
    assert.equal(h.revoked.length, 0);
  });

  test('lists sessions for their owner and revokes them, another user’s being not_found', async () => {
    const h = await harness();
    const userId = randomUUID();
    const first = await h.signIn(userId);
    h.clock.now += 1000;
    const second = await h.signIn(userId);
    h.clock.now += 1000;
    const third = await h.signIn(userId);
    const { sessions } = await h.bus.request('session.session.list', { user_id: userId });
    assert.deepEqual(
      sessions.map((s) => s.id),
      [third.session_id, second.session_id, first.session_id],
    );
    assert.deepEqual(sessions[2], {
      id: first.session_id,
      user_id: userId,
      created_at: new Date(h.clock.now - 2000).toISOString(),
      last_used_at: new Date(h.clock.now - 2000).toISOString(),
      expires_at: new Date(h.clock.now - 2000 + 2_592_000_000).toISOString(),
      ip: '203.0.113.9',
      user_agent: 'test',
      amr: ['pwd', 'otp'],
    });

    const stranger = randomUUID();
    await assert.rejects(
      h.bus.request('session.session.revoke', { session_id: first.session_id, user_id: stranger, reason: 'logout' }),
      (err) => isAppError(err, 'not_found'),
    );
    assert.equal(h.revoked.length, 0);
    await h.bus.request('session.session.revoke', { session_id: first.session_id, user_id: userId, reason: 'logout' });
    assert.deepEqual(h.revoked.at(-1)?.session_ids, [first.session_id]);

    const { session_ids } = await h.bus.request('session.user.revoke', {
      user_id: userId,
      except_session_id: third.session_id,
      reason: 'password_changed',
    });
    assert.deepEqual(session_ids, [second.session_id]);
    assert.equal(h.revoked.at(-1)?.reason, 'password_changed');
    const left = await h.bus.request('session.session.list', { user_id: userId });
    assert.deepEqual(
      left.sessions.map((s) => s.id),
      [third.session_id],
    );
    await assert.rejects(h.bus.request('session.session.refresh', { refresh_token: second.refresh_token }), (err) =>
      isAppError(err, 'invalid_grant'),
    );
  });

  test('answers the health check', async () => {
    const h = await harness();
    assert.deepEqual(await h.bus.request('session.health.check', {}), { ok: true });
  });

  test('signs with EdDSA when configured', async () => {
    const h = await harness({ SIGNING_ALG: 'EdDSA' });
    const projectId = randomUUID();
    const created = await h.signIn(randomUUID(), projectId);
    const { protectedHeader } = await h.verify(created.access_token, projectId);
    assert.equal(protectedHeader.alg, 'EdDSA');
    const [jwk] = (await h.bus.request('session.jwks.get', {})).keys;
    assert.deepEqual([jwk?.kty, jwk?.crv, jwk?.y], ['OKP', 'Ed25519', undefined]);
  });

  test("a project's lifetimes apply at sign-in and refresh, cut to the instance's", async () => {
    const h = await harness();
    const projectId = randomUUID();
    const created = await h.bus.request('session.session.create', {
      user_id: randomUUID(),
      project_id: projectId,
      role: 'user',
      amr: ['pwd'],
      access_ttl: 120,
      refresh_ttl: 600,
    });
    assert.equal(created.expires_in, 120);
    const { payload } = await h.verify(created.access_token, projectId);
    assert.equal((payload.exp as number) - (payload.iat as number), 120);
    const refreshed = await h.bus.request('session.session.refresh', {
      refresh_token: created.refresh_token,
      project_id: projectId,
      access_ttl: 99_999,
      refresh_ttl: 600,
    });
    assert.equal(refreshed.expires_in, 900, 'never above ACCESS_TOKEN_TTL');
    // Idle past the project's refresh lifetime (600 s): the token is dead.
    h.clock.now += 601_000;
    await assert.rejects(
      h.bus.request('session.session.refresh', {
        refresh_token: refreshed.refresh_token,
        project_id: projectId,
        refresh_ttl: 600,
      }),
      (err) => isAppError(err, 'invalid_grant'),
    );
  });

  test('a refresh naming another project is refused, and the token still works in its own', async () => {
    const h = await harness();
    const projectId = randomUUID();
    const created = await h.signIn(randomUUID(), projectId);
    await assert.rejects(
      h.bus.request('session.session.refresh', { refresh_token: created.refresh_token, project_id: randomUUID() }),
      (err) => isAppError(err, 'invalid_grant'),
    );
    const own = await h.bus.request('session.session.refresh', {
      refresh_token: created.refresh_token,
      project_id: projectId,
    });
    assert.equal(own.session_id, created.session_id);
    assert.equal(h.revoked.length, 0, 'no reuse was detected');
  });
});
