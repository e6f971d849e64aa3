// `pnpm bench -- --url URL` against a stack this test starts (its own NATS, Redis and database):
// every scenario runs, the sizing is computed from the processes' own CPU, and the users the
// bench made are gone afterwards; a URL nobody answers at, and a bad argument, end it at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDatabase, freePort, node, Proc, ROOT, secretKey, tcpUp, waitForOk } from './processes.ts';

const PG = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

/** Runs the bench with `args`; its exit code and output, killed after `ms`. */
function bench(args: string[], ms: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/src/run.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, BENCH_SECONDS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      output += b.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('pnpm bench -- --url: the scenarios against a running deployment', () => {
  let dir: string;
  let db: { url: string; drop(): void };
  const procs: Proc[] = [];
  let gateway = '';
  let identityOps = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-url-'));
    const [natsPort, redisPort, port] = [await freePort(), await freePort(), await freePort()];
    identityOps = await freePort();
    procs.push(
      new Proc('nats', NATS_BIN, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dir, 'js')], {}),
      new Proc('redis', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', ''], {}),
    );
    await Promise.all([tcpUp(natsPort), tcpUp(redisPort)]);
    db = createDatabase(PG);
    gateway = `http://127.0.0.1:${port}`;
    const env = {
      NATS_URL: `nats://127.0.0.1:${natsPort}`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      DATABASE_URL: db.url,
      SECRET_KEY: secretKey(),
      PUBLIC_URL: gateway,
      LOG_LEVEL: 'warn',
      // A benchmark measures throughput: the limits would answer 429 long before.
      RATE_LIMIT_PER_IP_PER_MINUTE: '100000000',
      RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE: '100000000',
      LOGIN_FAILURES_PER_ACCOUNT: '100000000',
    };
    for (const name of ['identity', 'session', 'mfa', 'mailer']) {
      const extra: Record<string, string> = name === 'identity' ? { OPS_PORT: String(identityOps) } : {};
      procs.push(node(name, `services/${name}/src/main.ts`, { ...env, ...extra }));
    }
    procs.push(node('gateway', 'services/gateway/src/main.ts', { ...env, PORT: String(port) }));
    await waitForOk(`${gateway}/readyz`, procs);
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every scenario runs, the sizing comes from the CPU the processes report, the users are gone after', async () => {
    const { code, output } = await bench(
      ['--url', gateway, '--ops', `identity=http://127.0.0.1:${identityOps}`, '--target-logins', '500/s'],
      150_000,
    );
    assert.equal(code, 0, output);
    const result = JSON.parse(readFileSync(join(ROOT, 'bench', 'results', 'remote-latest.json'), 'utf8')) as {
      url: string;
      rows: { name: string; rps: number; cpu: Record<string, number> }[];
      sizing: { logins_per_identity_core: number; identity_replicas: number; session_checks_per_gateway_core: number };
      users: { created: number; removed: number; prefix: string };
    };
    assert.equal(result.url, gateway);
    assert.deepEqual(
      result.rows.map((r) => r.name),
      ['GET /auth/session', 'GET /auth/me', 'POST /auth/refresh', 'GET /auth/session, cold tokens', 'POST /auth/login'],
    );
    for (const row of result.rows) assert.ok(row.rps > 0, `${row.name}: ${row.rps}/s`);
    assert.ok((result.rows.at(-1)?.cpu.identity ?? 0) > 1, 'a sign-in costs identity a hash (ms)');
    assert.ok(result.sizing.logins_per_identity_core > 0);
    assert.ok(result.sizing.session_checks_per_gateway_core > 0);
    // 500 sign-ins a second are more than one core of argon2id can hash.
    assert.ok(result.sizing.identity_replicas >= 2, JSON.stringify(result.sizing));
    assert.match(output, /sign-ins per identity core: +\d+\/s/);
    assert.equal(result.users.created, 20);
    assert.equal(result.users.removed, 20);
    // Gone: the bench's users cannot sign in any more.
    for (const i of [0, 19]) {
      const login = await fetch(`${gateway}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `${result.users.prefix}-${i}@example.com`, password: 'correct horse battery' }),
      });
      assert.equal(login.status, 401, await login.text());
    }
  });

  test('a URL nobody answers at ends it with exit code 1, a bad argument with 2, in one line each', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const down = await bench(['--url', nobody], 30_000);
    assert.equal(down.code, 1, down.output);
    assert.match(down.output, /nothing answers there/);
    assert.doesNotMatch(down.output, /\n\s+at /, 'no stack trace');
    const bad = await bench(['--url', gateway, '--target-logins', 'abc'], 30_000);
    assert.equal(bad.code, 2, bad.output);
    assert.equal(bad.output.trim().split('\n').length, 1, bad.output);
  });
});
