import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDatabase, freePort, Proc, ROOT } from './processes.ts';

// `pnpm start` and `pnpm start:stack` as an operator runs them: whatever signal reaches the pnpm
// process, everything it started is gone shortly after. pnpm forwards a SIGTERM to its `sh -c`
// child only (the script under it kept running, and the services with it), and a SIGKILL to
// nobody: infra/scripts/supervise.sh covers both.

const PG = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
/** Generous: the services shut down gracefully (SIGTERM), within their own 10 s limit. */
const GONE_WITHIN_MS = 20_000;

/** pid -> [state, ppid, command line] of every process, from /proc. */
function processTable(): Map<number, { state: string; ppid: number; args: string }> {
  const table = new Map<number, { state: string; ppid: number; args: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state = '', ppid = '0'] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      table.set(Number(name), { state, ppid: Number(ppid), args });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** Every live descendant of `root` (root included), with its command line. */
function descendants(root: number): Map<number, string> {
  const table = processTable();
  const found = new Map<number, string>();
  const visit = (pid: number) => {
    const entry = table.get(pid);
    if (!entry || entry.state === 'Z') return;
    found.set(pid, entry.args);
    for (const [child, e] of table) if (e.ppid === pid) visit(child);
  };
  visit(root);
  return found;
}

/** The pids of `watched` still running (zombies count as gone). */
function survivors(watched: Map<number, string>): string[] {
  const table = processTable();
  return [...watched]
    .filter(([pid, args]) => {
      const entry = table.get(pid);
      return entry !== undefined && entry.state !== 'Z' && entry.args === args;
    })
    .map(([pid, args]) => `${pid} ${args}`);
}

/**
 * How a signal reaches the start command: sent to the pnpm process alone (`kill <pid>`, what a
 * process manager does), or to its process group, as a terminal sends Ctrl-C. pnpm ignores a
 * SIGINT sent to it alone (it leaves the Ctrl-C to its child, which the terminal interrupts too),
 * and stays up owning everything, so SIGINT is sent to the group.
 */
type Target = 'pnpm' | 'group';

/**
 * Starts `pnpm <script>` in a process group of its own, waits for the gateway, sends `signal`,
 * and asserts that none of the processes it had started survives GONE_WITHIN_MS.
 */
async function signalEndsEverything(
  script: string,
  env: Record<string, string>,
  signal: NodeJS.Signals,
  target: Target,
  expectedServices: RegExp[],
): Promise<void> {
  const port = await freePort();
  const output: string[] = [];
  const child = spawn('pnpm', [script], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: '', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const keep = (b: Buffer) => output.push(b.toString());
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const tail = () => output.join('').slice(-3000);
  const pid = child.pid;
  assert.ok(pid);
  let started = new Map<number, string>();
  try {
    const ready = Date.now() + 120_000;
    for (;;) {
      assert.equal(child.exitCode, null, `pnpm ${script} exited early:\n${tail()}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
        (res) => res.status === 200,
        () => false,
      );
      if (ok) break;
      assert.ok(Date.now() < ready, `pnpm ${script} did not become ready:\n${tail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    started = descendants(pid);
    for (const service of expectedServices) {
      assert.ok(
        [...started.values()].some((args) => service.test(args)),
        `${service} among ${[...started.values()].join('\n')}`,
      );
    }
    process.kill(target === 'group' ? -pid : pid, signal);
    const deadline = Date.now() + GONE_WITHIN_MS;
    let left = survivors(started);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      left = survivors(started);
    }
    assert.deepEqual(left, [], `still running ${GONE_WITHIN_MS} ms after ${signal} to ${target}:\n${tail()}`);
  } finally {
    // Whatever the outcome, leave nothing behind.
    for (const line of survivors(new Map([...started, ...descendants(pid)]))) {
      process.kill(Number(line.split(' ')[0]), 'SIGKILL');
    }
  }
}

const CASES: [NodeJS.Signals, Target][] = [
  ['SIGTERM', 'pnpm'],
  ['SIGHUP', 'pnpm'],
  ['SIGKILL', 'pnpm'],
  ['SIGINT', 'group'],
];

describe('pnpm start (embedded): every signal to pnpm stops the server', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [signal, target] of CASES) {
    test(`${signal} to ${target}`, async () => {
      const env = { DATA_DIR: join(dir, signal) };
      await signalEndsEverything('start', env, signal, target, [/apps\/embedded\/dist\/main\.mjs/]);
    });
  }
});

describe('pnpm start:stack: every signal to pnpm stops all five services', () => {
  let dir: string;
  let nats: Proc;
  let redis: Proc;
  let db: { url: string; drop(): void };
  let env: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-stack-'));
    const [natsPort, redisPort] = [await freePort(), await freePort()];
    // Private NATS and Redis: no other test's services answer on this bus.
    nats = new Proc('nats', NATS_BIN, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dir, 'js')], {});
    redis = new Proc('redis', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', ''], {});
    db = createDatabase(PG);
    env = {
      NATS_URL: `nats://127.0.0.1:${natsPort}`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      DATABASE_URL: db.url,
      DATA_DIR: join(dir, 'data'),
    };
  });
  after(async () => {
    await nats?.stop();
    await redis?.stop();
    db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('REPLICAS=2: two processes of every service; a replica killed is started again while the other serves', async () => {
    const port = await freePort();
    const output: string[] = [];
    const child = spawn('pnpm', ['start:stack'], {
      cwd: ROOT,
      env: {
        ...process.env,
        // The same DATA_DIR (its SECRET_KEY) as the other runs: they share one Redis, whose
        // signing keys are sealed with it.
        ...env,
        REPLICAS: '2',
        PORT: String(port),
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
    child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
    const tail = () => output.join('').slice(-3000);
    const pid = child.pid as number;
    const gateways = [`http://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`];
    const ready = async (url: string) =>
      fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
        (res) => res.status === 200,
        () => false,
      );
    const running = (service: string) =>
      [...descendants(pid).entries()].filter(([, args]) => args.includes(`services/${service}/dist/main.mjs`));
    let started = new Map<number, string>();
    try {
      const deadline = Date.now() + 120_000;
      while (!((await ready(gateways[0] as string)) && (await ready(gateways[1] as string)))) {
        assert.equal(child.exitCode, null, `exited early:\n${tail()}`);
        assert.ok(Date.now() < deadline, `not ready:\n${tail()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      for (const service of ['identity', 'session', 'mfa', 'mailer', 'gateway']) {
        assert.equal(
          running(service).length,
          2,
          `two ${service} processes:\n${[...descendants(pid).values()].join('\n')}`,
        );
      }
      const [victim] = running('identity')[0] as [number, string];
      process.kill(victim, 'SIGKILL');
      while (descendants(pid).has(victim)) await new Promise((r) => setTimeout(r, 20));
      // The other replica serves meanwhile (a sign-up sent at the very instant of the kill may
      // still reach the dead one: it is not sent twice, so a retry is what a user does).
      let registered = 0;
      let access = '';
      for (let attempt = 0; attempt < 3 && registered !== 201; attempt++) {
        const reg = await fetch(`${gateways[1]}/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: `replica-${Date.now()}@example.com`, password: 'correct horse battery' }),
        });
        registered = reg.status;
        access = registered === 201 ? ((await reg.json()) as { access_token: string }).access_token : '';
        if (registered !== 201) await reg.arrayBuffer();
      }
      assert.equal(registered, 201, 'the living replica signs up');
      // One issuer for the deployment: both gateways accept the token one of them handed out.
      for (const gateway of gateways) {
        const session = await fetch(`${gateway}/auth/session`, { headers: { authorization: `Bearer ${access}` } });
        assert.equal(session.status, 200, `${gateway}: ${await session.text()}`);
      }
      const back = Date.now() + 30_000;
      while (!(running('identity').length === 2 && !running('identity').some(([p]) => p === victim))) {
        assert.ok(Date.now() < back, `the killed replica was not started again:\n${tail()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.match(output.join(''), /\[stack\] identity-\d exited with status 137; starting it again in 0\.5 s/);
      started = descendants(pid);
      process.kill(pid, 'SIGTERM');
      const gone = Date.now() + GONE_WITHIN_MS;
      let left = survivors(started);
      while (left.length > 0 && Date.now() < gone) {
        await new Promise((r) => setTimeout(r, 200));
        left = survivors(started);
      }
      assert.deepEqual(left, [], `still running after SIGTERM:\n${tail()}`);
    } finally {
      for (const line of survivors(new Map([...started, ...descendants(pid)]))) {
        process.kill(Number(line.split(' ')[0]), 'SIGKILL');
      }
    }
  });

  const services = ['identity', 'session', 'mfa', 'mailer', 'gateway'].map(
    (name) => new RegExp(`services/${name}/dist/main\\.mjs`),
  );
  // The slow ones (five services to start each time): what pnpm alone gets.
  for (const [signal, target] of CASES.filter(([s]) => s === 'SIGTERM' || s === 'SIGKILL')) {
    test(`${signal} to ${target}`, async () => {
      await signalEndsEverything('start:stack', env, signal, target, services);
    });
  }
});
