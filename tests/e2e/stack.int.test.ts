import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REALTIME_CLOSE } from '@gatehouse/contracts/realtime';
import { ADMIN_SERVER_ENV, adminBan, adminScenarios, adminToken } from './admin-scenarios.ts';
import { apiKeyScenarios } from './api-key-scenarios.ts';
import { auditEventually, auditScenarios } from './audit-scenarios.ts';
import { claimsOf, client, eventually, uniqueEmail } from './client.ts';
import { EMAIL_SERVER_ENV, emailScenarios } from './email-scenarios.ts';
import { hostileScenarios } from './hostile-scenarios.ts';
import { lockoutScenarios } from './lockout-scenarios.ts';
import { type Mailbox, startMailbox, withLink } from './mailbox.ts';
import { mfaScenarios } from './mfa-scenarios.ts';
import { startOtlpReceiver } from './otlp-receiver.ts';
import { createDatabase, freePort, node, Proc, secretKey, tcpUp, waitForOk } from './processes.ts';
import { projectScenarios } from './project-scenarios.ts';
import { listen, realtimeScenarios } from './realtime-scenarios.ts';
import { authScenarios, TEST_SERVER_ENV } from './scenarios.ts';
import { sdkScenarios } from './sdk-scenarios.ts';
import { type SocialPeers, socialScenarios, startSocialPeers } from './social-scenarios.ts';
import { trustScenarios } from './trust-scenarios.ts';

// The stack: every service its own process, over a real NATS, Redis and Postgres.
// NATS and Redis are private instances on their own ports, so the test can stop
// them and watch the services fail fast and recover; Postgres is the machine's,
// with a fresh database.
const PG = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

let natsPort: number;
let redisPort: number;
let nats: Proc;
let redis: Proc;
let db: { url: string; drop(): void };
let dir: string;
const services: Proc[] = [];
let gatewayA = '';
let gatewayB = '';
let mailbox: Mailbox;
let env: Record<string, string>;
let social: SocialPeers;
let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;
const opsPorts: Record<string, number> = {};

const startNats = () =>
  new Proc('nats', NATS_BIN, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dir, 'js')], {});
// AOF on, as production Redis should run: a restart keeps sessions and keys.
const startRedis = () =>
  new Proc(
    'redis',
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir],
    {},
  );

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-stack-'));
  [natsPort, redisPort] = [await freePort(), await freePort()];
  nats = startNats();
  redis = startRedis();
  await Promise.all([tcpUp(natsPort), tcpUp(redisPort)]);
  db = createDatabase(PG);
  mailbox = await startMailbox();
  const [portA, portB] = [await freePort(), await freePort()];
  gatewayA = `http://127.0.0.1:${portA}`;
  gatewayB = `http://127.0.0.1:${portB}`;
  social = await startSocialPeers(gatewayA);
  otlp = await startOtlpReceiver();
  env = {
    // Traces on: every service exports its spans to the test's collector.
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: '500',
    // Every service shares the public URL: it is the tokens' issuer.
    PUBLIC_URL: gatewayA,
    ...TEST_SERVER_ENV,
    ...EMAIL_SERVER_ENV,
    ...ADMIN_SERVER_ENV,
    SMTP_URL: mailbox.url,
    NATS_URL: `nats://127.0.0.1:${natsPort}`,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    DATABASE_URL: db.url,
    SECRET_KEY: secretKey(),
    BUS_TIMEOUT_MS: '2000',
    ...social.env,
  };
  // Every service but the gateway serves its probes and metrics on an operations port.
  for (const name of ['identity', 'session', 'mfa', 'mailer']) {
    opsPorts[name] = await freePort();
    services.push(node(name, `services/${name}/src/main.ts`, { ...env, OPS_PORT: String(opsPorts[name]) }));
  }
  services.push(
    node('gateway-a', 'services/gateway/src/main.ts', { ...env, PORT: String(portA), PUBLIC_URL: gatewayA }),
  );
  // A second replica answers for the same public URL, as behind a load balancer.
  services.push(
    node('gateway-b', 'services/gateway/src/main.ts', { ...env, PORT: String(portB), PUBLIC_URL: gatewayA }),
  );
  await waitForOk(`${gatewayA}/readyz`, services);
  await waitForOk(`${gatewayB}/readyz`, services);
  // A second identity replica, once the first has migrated the database: requests spread over the
  // queue group, so a social sign-in begun through one replica is often finished by the other.
  services.push(node('identity-b', 'services/identity/src/main.ts', env));
  await waitForOk(`${gatewayA}/readyz`, services);
});

after(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await Promise.all([nats?.stop(), redis?.stop(), mailbox?.close(), social?.close(), otlp?.close()]);
  db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

authScenarios('stack', () => gatewayA);
lockoutScenarios('stack', () => gatewayA);
hostileScenarios('stack', () => gatewayA);
trustScenarios(
  'stack',
  () => gatewayA,
  () => gatewayA,
  () => mailbox,
);
mfaScenarios(
  'stack',
  () => gatewayA,
  () => gatewayA,
);
emailScenarios(
  'stack',
  () => gatewayA,
  () => gatewayA,
  () => mailbox,
);
// Every flow is begun at gateway A and finished at gateway B.
socialScenarios(
  'stack',
  () => gatewayA,
  () => gatewayB,
  () => social,
  () => mailbox,
  (userId) => adminBan(gatewayA, userId),
);
// Every change is made at gateway A, and its effect on live tokens checked at gateway B.
adminScenarios(
  'stack',
  () => gatewayA,
  () => gatewayB,
  () => mailbox,
);
apiKeyScenarios(
  'stack',
  () => gatewayA,
  () => gatewayB,
  () => mailbox,
);
projectScenarios(
  'stack',
  () => gatewayA,
  () => gatewayB,
  () => mailbox,
);
// Every change is made through gateway A and heard on sockets of gateway B.
realtimeScenarios(
  'stack',
  () => gatewayA,
  () => gatewayB,
);
// Recorded through gateway A (and the session service), read back through gateway B.
auditScenarios(
  'stack',
  () => gatewayA,
  () => gatewayB,
);

describe('stack: the mailer loses nothing', () => {
  test('mail queued while the mailer is stopped is delivered once it starts again, each message once', async () => {
    const index = services.findIndex((p) => p.name === 'mailer');
    const stopped = services[index];
    assert.ok(stopped);
    await stopped.stop();
    const c = client(gatewayA);
    const emails = [uniqueEmail('queued'), uniqueEmail('queued'), uniqueEmail('queued')];
    for (const email of emails) {
      assert.equal((await c.post('/auth/register', { email, password: 'correct horse battery' })).status, 201);
      assert.equal((await c.post('/auth/password/forgot', { email })).status, 202);
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(emails.flatMap((e) => mailbox.to(e)).length, 0, 'nothing is delivered while the mailer is down');

    const restarted = node('mailer', 'services/mailer/src/main.ts', { ...env, OPS_PORT: String(opsPorts.mailer) });
    services[index] = restarted;
    for (const email of emails) {
      await mailbox.waitFor(email, 1, withLink('verify_email'), 30_000);
      await mailbox.waitFor(email, 1, withLink('reset_password'), 30_000);
    }
    // Give a duplicate time to show up, then count.
    await new Promise((r) => setTimeout(r, 2_000));
    for (const email of emails) assert.equal(mailbox.to(email).length, 2, `${email} got each message once`);
  });
});

describe('stack: the audit log loses nothing', () => {
  test('events recorded while identity (the writer) is stopped wait in JetStream and are written once it is back', async () => {
    const password = 'correct horse battery';
    const replayer = client(gatewayA, { userAgent: 'audit-outage/1.0' });
    const leaver = client(gatewayA, { userAgent: 'audit-outage/2.0' });
    const replayed = await replayer.post('/auth/register', { email: uniqueEmail('outage'), password });
    const leaving = await leaver.post('/auth/register', { email: uniqueEmail('outage'), password });
    assert.equal(replayed.status, 201, JSON.stringify(replayed.body));
    assert.equal(leaving.status, 201, JSON.stringify(leaving.body));
    const first = replayed.body.refresh_token as string;
    const rotated = await replayer.post('/auth/refresh', { refresh_token: first });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const token = await adminToken(gatewayA);

    const writers = ['identity', 'identity-b'].map((name) => services.findIndex((p) => p.name === name));
    assert.ok(writers.every((i) => i >= 0));
    await Promise.all(writers.map((i) => services[i]?.stop()));
    try {
      const down = await leaver.post('/auth/login', { email: uniqueEmail(), password });
      assert.equal(down.status, 503, 'identity is down indeed');
      // Neither needs identity: the session service ends the session, and tells the replay.
      const leavingAccess = leaving.body.access_token as string;
      assert.equal((await leaver.post('/auth/logout', undefined, leavingAccess)).status, 204);
      await new Promise((r) => setTimeout(r, 2_200)); // past REFRESH_REUSE_INTERVAL (2 s)
      assert.equal((await replayer.post('/auth/refresh', { refresh_token: first })).status, 401);
    } finally {
      services[writers[0] as number] = node('identity', 'services/identity/src/main.ts', {
        ...env,
        OPS_PORT: String(opsPorts.identity),
      });
      services[writers[1] as number] = node('identity-b', 'services/identity/src/main.ts', env);
    }
    await waitForOk(`${gatewayA}/readyz`, services);

    const id = (res: { body: Record<string, unknown> }) => (res.body.user as { id: string }).id;
    const reuse = await auditEventually(gatewayB, token, id(replayed), ['refresh_token.reused'], 30_000);
    const signOut = await auditEventually(gatewayB, token, id(leaving), ['sign_out'], 30_000);
    const reused = reuse.filter((e) => e.type === 'refresh_token.reused');
    const signOuts = signOut.filter((e) => e.type === 'sign_out');
    assert.equal(reused.length, 1, 'written once');
    assert.equal(signOuts.length, 1, 'written once');
    assert.equal(reused[0]?.ip, replayer.ip);
    assert.equal(reused[0]?.user_agent, 'audit-outage/1.0');
    assert.equal(reused[0]?.data.cause, 'replayed');
    assert.equal(signOuts[0]?.ip, leaver.ip);
    assert.equal(signOuts[0]?.user_agent, 'audit-outage/2.0');
    assert.deepEqual(signOuts[0]?.data, {
      scope: 'session',
      session_id: claimsOf(leaving.body.access_token as string).sid,
    });
  });
});

describe('stack: operations', () => {
  test('every service answers its probes and serves its metrics on its operations port; the gateway on its own', async () => {
    for (const [name, port] of Object.entries(opsPorts)) {
      const ops = `http://127.0.0.1:${port}`;
      const live = await fetch(`${ops}/healthz`).catch((err: Error) => {
        throw new Error(`${name}'s operations port ${port}: ${String(err.cause ?? err)}`);
      });
      assert.equal(live.status, 200, name);
      // A replica restarted by an earlier test may still be waiting for its dependencies.
      await eventually(async () => (await fetch(`${ops}/readyz`)).status === 200, 20_000).catch(() =>
        assert.fail(`${name} is not ready on its operations port`),
      );
      const text = await (await fetch(`${ops}/metrics`)).text();
      assert.match(text, /\nprocess_cpu_user_seconds_total /, `${name} has the process metrics`);
    }
    // A sign-up (its verification mail) and a logout show: the session service counts the
    // revocation, the mailer the mail, the gateway its routes, sign-ins and bus requests.
    const c = client(gatewayA);
    const reg = await c.post('/auth/register', { email: uniqueEmail('ops'), password: 'correct horse battery' });
    assert.equal((await c.post('/auth/logout', undefined, reg.body.access_token as string)).status, 204);
    await eventually(async () =>
      /\ngatehouse_mail_sent_total\{template="verify_email",outcome="sent"\} [1-9]/.test(
        await (await fetch(`http://127.0.0.1:${opsPorts.mailer}/metrics`)).text(),
      ),
    );
    const session = await (await fetch(`http://127.0.0.1:${opsPorts.session}/metrics`)).text();
    assert.match(session, /\ngatehouse_revocations_total\{reason="logout"\} [1-9]/);
    const mailer = await (await fetch(`http://127.0.0.1:${opsPorts.mailer}/metrics`)).text();
    assert.match(mailer, /\ngatehouse_mail_sent_total\{template="verify_email",outcome="sent"\} [1-9]/);
    assert.match(mailer, /\ngatehouse_mail_queue_depth \d+\n/);
    const gateway = await (await fetch(`${gatewayA}/metrics`)).text();
    assert.match(
      gateway,
      /\ngatehouse_http_requests_total\{route="\/auth\/register",method="POST",status="201"\} [1-9]/,
    );
    assert.match(
      gateway,
      /\ngatehouse_bus_request_duration_seconds_count\{subject="identity\.user\.register",outcome="ok"\} [1-9]/,
    );
    assert.match(gateway, /\ngatehouse_sign_ins_total\{method="password",outcome="success"\} [1-9]/);
  });
});

describe('stack: traces', () => {
  test('one trace from the HTTP request through every NATS hop to the Postgres queries and Redis commands', async () => {
    const traceId = randomBytes(16).toString('hex');
    const res = await fetch(`${gatewayA}/auth/register`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      },
      body: JSON.stringify({ email: uniqueEmail('trace'), password: 'correct horse battery' }),
    });
    assert.equal(res.status, 201);
    const names = () => new Set(otlp.spans.filter((s) => s.traceId === traceId).map((s) => `${s.service} ${s.name}`));
    const expected = [
      'gatehouse-gateway POST /auth/register',
      'gatehouse-gateway identity.user.register',
      'gatehouse-identity handle identity.user.register',
      'gatehouse-identity pg insert',
      'gatehouse-gateway session.session.create',
      'gatehouse-session handle session.session.create',
    ];
    await eventually(
      async () =>
        expected.every((n) => names().has(n)) && [...names()].some((n) => n.startsWith('gatehouse-session redis ')),
      15_000,
    ).catch(() => {
      assert.fail(`the trace has ${[...names()].join(', ')}`);
    });
    // Every span of the trace hangs from another one of it, up to the caller's.
    const spans = otlp.spans.filter((s) => s.traceId === traceId);
    const ids = new Set(spans.map((s) => s.spanId));
    const roots = spans.filter((s) => !ids.has(s.parentSpanId));
    assert.equal(roots.length, 1, `one root: ${roots.map((s) => s.name).join(', ')}`);
    assert.equal(roots[0]?.name, 'POST /auth/register');
  });
});

describe('stack: several gateway replicas', () => {
  test('a session revoked through one replica is refused by the other at once', async () => {
    const a = client(gatewayA);
    const b = client(gatewayB);
    const reg = await a.post('/auth/register', { email: uniqueEmail(), password: 'correct horse battery' });
    const access = reg.body.access_token as string;
    assert.equal((await b.get('/auth/session', access)).status, 200);
    assert.equal((await a.post('/auth/logout', undefined, access)).status, 204);
    // No waiting: the very next request to the other replica is refused.
    assert.equal((await b.get('/auth/session', access)).status, 401);
  });

  test('a profile changed through one replica is served fresh by the other at the next request', async () => {
    const a = client(gatewayA);
    const b = client(gatewayB);
    const reg = await a.post('/auth/register', { email: uniqueEmail('profile'), password: 'correct horse battery' });
    const access = reg.body.access_token as string;
    const userId = (reg.body.user as { id: string }).id;
    const admin = await adminToken(gatewayA);
    for (let i = 0; i < 20; i++) {
      // Gateway B answers from its cache (twice: filled, then hit) ...
      assert.equal((await b.get('/auth/me', access)).status, 200);
      assert.equal((await b.get('/auth/me', access)).status, 200);
      // ... until the change made through gateway A, by the user or by an admin, reaches it.
      const change =
        i % 2 === 0
          ? await a.patch('/auth/me', { name: `Name ${i}`, metadata: { round: i } }, access)
          : await a.patch(`/admin/users/${userId}`, { name: `Name ${i}`, email_verified: i % 4 === 1 }, admin);
      assert.equal(change.status, 200, JSON.stringify(change.body));
      const seen = await b.get('/auth/me', access);
      assert.equal(seen.status, 200);
      assert.equal(seen.body.name, `Name ${i}`, `round ${i}: gateway B served the profile before the change`);
      assert.equal(seen.body.updated_at, change.body.updated_at);
      if (i % 2 === 1) assert.equal(seen.body.email_verified, i % 4 === 1);
      // The cached body is the User: none of identity's record fields (banned, has_password).
      assert.equal('banned' in seen.body || 'has_password' in seen.body || 'project_id' in seen.body, false);
    }
    // A ban through A: the session is refused on B, cached profile or not.
    await adminBan(gatewayA, userId);
    assert.equal((await b.get('/auth/me', access)).status, 401);
  });

  test('a replica started after a revocation loads it from the session service', async () => {
    const a = client(gatewayA);
    const reg = await a.post('/auth/register', { email: uniqueEmail(), password: 'correct horse battery' });
    const access = reg.body.access_token as string;
    assert.equal((await a.post('/auth/logout', undefined, access)).status, 204);
    const port = await freePort();
    const late = node('gateway-late', 'services/gateway/src/main.ts', {
      ...TEST_SERVER_ENV,
      NATS_URL: `nats://127.0.0.1:${natsPort}`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      SECRET_KEY: secretKey(),
      PORT: String(port),
      PUBLIC_URL: gatewayA,
    });
    try {
      await waitForOk(`http://127.0.0.1:${port}/healthz`, [late]);
      const res = await client(`http://127.0.0.1:${port}`).get('/auth/session', access);
      assert.equal(res.status, 401);
      assert.equal(claimsOf(access).sid !== undefined, true);
    } finally {
      await late.stop();
    }
  });
});

describe('stack: a dependency goes away and comes back', () => {
  test('Redis down: sign-in answers 503 quickly, then recovers by itself', async () => {
    const a = client(gatewayA);
    const email = uniqueEmail();
    assert.equal((await a.post('/auth/register', { email, password: 'correct horse battery' })).status, 201);
    await redis.stop('SIGKILL');
    const started = Date.now();
    const down = await a.post('/auth/login', { email, password: 'correct horse battery' });
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.equal(down.body.error, 'service_unavailable');
    assert.ok(down.headers.get('retry-after'));
    assert.ok(Date.now() - started < 5000, 'fails fast, no hang');
    // The session service's readiness says so: an orchestrator stops sending it traffic.
    assert.equal((await fetch(`http://127.0.0.1:${opsPorts.session}/readyz`)).status, 503);
    redis = startRedis();
    await eventually(
      async () =>
        (await client(gatewayA).post('/auth/login', { email, password: 'correct horse battery' })).status === 200,
      20_000,
    );
    assert.equal((await fetch(`http://127.0.0.1:${opsPorts.session}/readyz`)).status, 200);
  });

  test('NATS down: requests answer 503 quickly, then recover by themselves', async () => {
    const a = client(gatewayA);
    const reg = await a.post('/auth/register', { email: uniqueEmail(), password: 'correct horse battery' });
    const access = reg.body.access_token as string;
    const socket = await listen(gatewayA, access);
    await nats.stop('SIGKILL');
    const started = Date.now();
    const down = await a.get('/auth/me', access);
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.ok(Date.now() - started < 5000, 'fails fast, no hang');
    // The hot path needs no other service: the session check still answers.
    assert.equal((await a.get('/auth/session', access)).status, 200);
    nats = startNats();
    await eventually(async () => (await client(gatewayA).get('/auth/me', access)).status === 200, 30_000);
    await eventually(async () => (await client(gatewayA).get('/readyz')).status === 200, 30_000);
    // Events published while the bus was away never reached the gateway: its sockets are told
    // to reconnect and re-check their sessions once it has reloaded the revocation list.
    assert.equal((await socket.closed).code, REALTIME_CLOSE.resync);
    const again = await listen(gatewayA, access);
    again.ws.close();
  });
});
sdkScenarios(
  'stack',
  () => gatewayA,
  () => gatewayB,
  () => mailbox,
  () => social,
);
