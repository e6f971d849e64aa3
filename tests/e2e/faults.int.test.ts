import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { claimsOf, client, eventually, uniqueEmail } from './client.ts';
import { PrivatePostgres } from './private-postgres.ts';
import { freePort, node, Proc, secretKey, tcpUp, waitForOk } from './processes.ts';

// Faults survived, under load: two replicas of identity, session and the gateway on a NATS, a
// Redis (AOF on) and a Postgres of this test's own, so it may kill and restart any of them. Each
// test says what may be lost and asserts that nothing else was.
const NATS_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const PASSWORD = 'correct horse battery';
/** A replica that took a request and died is noticed after this (half of it for a request safe to repeat). */
const BUS_TIMEOUT_MS = 2000;

let dir: string;
let nats: Proc;
let redis: Proc;
let pg: PrivatePostgres;
let env: Record<string, string>;
const procs = new Map<string, Proc>();
const gateways: string[] = [];
let natsPort: number;
let redisPort: number;

const startRedis = () =>
  new Proc(
    'redis',
    'redis-server',
    [
      ...['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--dir', dir],
      ...['--appendonly', 'yes', '--appendfsync', 'everysec'],
    ],
    {},
  );

/** Starts (or starts again) the replica called `name` and waits until it is ready. */
async function startReplica(name: string): Promise<void> {
  const service = name.split('-')[0] as string;
  const extra: Record<string, string> = {};
  if (service === 'gateway') extra.PORT = String(new URL(gateways[name === 'gateway-a' ? 0 : 1] as string).port);
  else extra.OPS_PORT = String(await freePort());
  const proc = node(name, `services/${service}/src/main.ts`, { ...env, ...extra });
  procs.set(name, proc);
  const probe =
    service === 'gateway'
      ? `${gateways[name === 'gateway-a' ? 0 : 1]}/readyz`
      : `http://127.0.0.1:${extra.OPS_PORT}/readyz`;
  await waitForOk(probe, [proc]);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-faults-'));
  [natsPort, redisPort] = [await freePort(), await freePort()];
  nats = new Proc('nats', NATS_BIN, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dir, 'js')], {});
  redis = startRedis();
  pg = new PrivatePostgres(await freePort());
  await Promise.all([tcpUp(natsPort), tcpUp(redisPort), pg.init()]);
  gateways.push(`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`);
  env = {
    PUBLIC_URL: gateways[0] as string,
    NATS_URL: `nats://127.0.0.1:${natsPort}`,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    DATABASE_URL: pg.url,
    SECRET_KEY: secretKey(),
    BUS_TIMEOUT_MS: String(BUS_TIMEOUT_MS),
    // The load signs in many times from one address; the faults, not the limits, are under test.
    RATE_LIMIT_PER_IP_PER_MINUTE: '1000000',
    RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE: '1000000',
    LOGIN_FAILURES_PER_ACCOUNT: '1000000',
    REFRESH_REUSE_INTERVAL: '10',
    LOG_LEVEL: 'warn',
  };
  // identity-a (it migrates; it waits for the mail streams the mailer makes) before identity-b.
  await Promise.all(['identity-a', 'mailer-a', 'session-a', 'session-b', 'mfa-a'].map(startReplica));
  await startReplica('identity-b');
  await Promise.all(['gateway-a', 'gateway-b'].map(startReplica));
});

after(async () => {
  await Promise.all([...procs.values()].map((p) => p.stop()));
  await Promise.all([nats?.stop(), redis?.stop(), pg?.destroy()]);
  rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  kind: 'login' | 'refresh';
  start: number;
  end: number;
  status: number;
  error?: string;
}

/**
 * Steady load for `ms`: `loginers` clients signing in over and over, `refreshers` clients each
 * rotating its own session's token chain, spread over both gateways. A request a gateway
 * refuses to connect (it is stopping) is sent to the other one, as a load balancer does.
 * `during` runs once the load is under way.
 */
async function underLoad(
  ms: number,
  during: () => Promise<void>,
  options: { loginers?: number; refreshers?: number } = {},
): Promise<Outcome[]> {
  const { loginers = 3, refreshers = 6 } = options;
  const email = uniqueEmail('load');
  const reg = await client(gateways[0] as string).post('/auth/register', { email, password: PASSWORD });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const chains: string[] = [];
  for (let i = 0; i < refreshers; i++) {
    const login = await client(gateways[i % 2] as string).post('/auth/login', { email, password: PASSWORD });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    chains.push(login.body.refresh_token as string);
  }
  const outcomes: Outcome[] = [];
  const end = Date.now() + ms;
  let turn = 0;
  const send = async (kind: Outcome['kind'], path: string, body: object): Promise<Record<string, unknown> | null> => {
    const start = Date.now();
    const first = turn++;
    for (let attempt = 0; attempt < 2; attempt++) {
      const base = gateways[(first + attempt) % 2] as string;
      try {
        const res = await fetch(base + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
        outcomes.push({
          kind,
          start,
          end: Date.now(),
          status: res.status,
          ...(res.status >= 400 ? { error: String(parsed.error) } : {}),
        });
        return res.status < 300 ? parsed : null;
      } catch (err) {
        // Refused before any answer (a stopping gateway): the balancer's retry on the other one.
        if (attempt === 0 && isRefused(err)) continue;
        outcomes.push({ kind, start, end: Date.now(), status: 0, error: String((err as Error).cause ?? err) });
        return null;
      }
    }
    return null;
  };
  const loops: Promise<void>[] = [];
  for (let i = 0; i < loginers; i++) {
    loops.push(
      (async () => {
        while (Date.now() < end) await send('login', '/auth/login', { email, password: PASSWORD });
      })(),
    );
  }
  chains.forEach((first) => {
    loops.push(
      (async () => {
        let token = first;
        while (Date.now() < end) {
          const answer = await send('refresh', '/auth/refresh', { refresh_token: token });
          if (answer) token = answer.refresh_token as string;
          else {
            // A lost chain: start a new one, so the load goes on (the failure is counted).
            const login = await send('login', '/auth/login', { email, password: PASSWORD });
            if (login) token = login.refresh_token as string;
          }
        }
      })(),
    );
  });
  await new Promise((r) => setTimeout(r, Math.min(1500, ms / 4)));
  await during();
  await Promise.all(loops);
  return outcomes;
}

function isRefused(err: unknown): boolean {
  const code = ((err as { cause?: { code?: string } }).cause ?? {}).code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET';
}

const failures = (outcomes: Outcome[]) => outcomes.filter((o) => o.status < 200 || o.status >= 300);
const summary = (outcomes: Outcome[]) =>
  JSON.stringify(
    failures(outcomes)
      .slice(0, 10)
      .map((o) => ({ ...o, start: o.start % 100_000, end: o.end % 100_000 })),
  );

describe('faults: a replica killed under load', () => {
  for (const service of ['identity', 'session'] as const) {
    test(`SIGKILL of one of two ${service} replicas: only requests in its hands fail, no refresh at all`, async () => {
      let killedAt = 0;
      const outcomes = await underLoad(7000, async () => {
        killedAt = Date.now();
        await procs.get(`${service}-a`)?.stop('SIGKILL');
      });
      const served = outcomes.filter((o) => o.status >= 200 && o.status < 300);
      assert.ok(served.length > 30, `the load ran: ${served.length} answered`);
      assert.ok(
        served.some((o) => o.start > killedAt + 500),
        'requests after the kill were served by the other replica',
      );
      // A refresh is safe to repeat (its grace window answers the same rotation): the gateway
      // sends it once more, to the living replica. No refresh fails.
      assert.deepEqual(
        failures(outcomes).filter((o) => o.kind === 'refresh'),
        [],
        `refreshes failed: ${summary(outcomes)}`,
      );
      // A sign-in is not sent again (the hash may have run): those in the killed replica's hands
      // may fail, as a 503, and no other.
      for (const failed of failures(outcomes)) {
        assert.equal(failed.status, 503, summary(outcomes));
        assert.equal(failed.error, 'service_unavailable');
        assert.ok(
          failed.start <= killedAt + 50 && failed.end >= killedAt,
          `failed outside the kill: ${summary(outcomes)}`,
        );
      }
      assert.ok(failures(outcomes).length <= 3, `at most the sign-ins in flight: ${summary(outcomes)}`);
      await startReplica(`${service}-a`);
    });
  }
});

describe('faults: a replica stopped gracefully under load', () => {
  for (const name of ['identity-b', 'session-b', 'gateway-b'] as const) {
    test(`SIGTERM of ${name}: no request fails (it drains: no new work, the work in hand finished)`, async () => {
      const outcomes = await underLoad(6000, async () => {
        await procs.get(name)?.stop('SIGTERM');
      });
      assert.ok(outcomes.length > 30, 'the load ran');
      assert.deepEqual(failures(outcomes), [], summary(outcomes));
      assert.equal(procs.get(name)?.child.exitCode, 0, 'a clean exit');
      await startReplica(name);
    });
  }
});

describe('faults: a dependency restarts', () => {
  test('Redis killed and restarted with AOF: no session is lost', async () => {
    const c = client(gateways[0] as string);
    const email = uniqueEmail('aof');
    const reg = await c.post('/auth/register', { email, password: PASSWORD });
    const sessions: string[] = [];
    for (let i = 0; i < 5; i++)
      sessions.push((await c.post('/auth/login', { email, password: PASSWORD })).body.refresh_token as string);
    // appendfsync everysec: what was written more than a second ago is on disk.
    await new Promise((r) => setTimeout(r, 1500));
    await redis.stop('SIGKILL');
    redis = startRedis();
    await tcpUp(redisPort);
    for (const token of [reg.body.refresh_token as string, ...sessions]) {
      await eventually(async () => (await c.post('/auth/refresh', { refresh_token: token })).status === 200, 20_000);
    }
  });

  test('Postgres down: sign-in answers 503 with Retry-After at once; back up, it recovers without a restart', async () => {
    const c = client(gateways[1] as string);
    const email = uniqueEmail('pg');
    assert.equal((await c.post('/auth/register', { email, password: PASSWORD })).status, 201);
    await pg.stop();
    const started = Date.now();
    const down = await c.post('/auth/login', { email, password: PASSWORD });
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.equal(down.body.error, 'service_unavailable');
    assert.ok(down.headers.get('retry-after'), 'Retry-After');
    assert.ok(Date.now() - started < BUS_TIMEOUT_MS + 1000, 'no hang');
    await pg.start();
    await eventually(async () => (await c.post('/auth/login', { email, password: PASSWORD })).status === 200, 30_000);
  });

  test('a revocation through one gateway is refused by the other within 50 ms (loosely: the next request)', async () => {
    const [a, b] = [client(gateways[0] as string), client(gateways[1] as string)];
    for (let i = 0; i < 10; i++) {
      const reg = await a.post('/auth/register', { email: uniqueEmail('rv'), password: PASSWORD });
      const access = reg.body.access_token as string;
      assert.equal((await b.get('/auth/session', access)).status, 200);
      assert.equal((await a.post('/auth/logout', undefined, access)).status, 204);
      const answered = Date.now();
      assert.equal((await b.get('/auth/session', access)).status, 401, `session ${claimsOf(access).sid}`);
      assert.ok(Date.now() - answered < 500);
    }
  });
});
