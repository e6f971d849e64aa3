import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { embeddedEnv, freePort } from '@gatehouse/kit/testing';

export const ROOT = resolve(import.meta.dirname, '../..');

export { freePort };

/**
 * `BENCH_CPU_PROF=dir`: every process writes a V8 CPU profile there when it exits (named after
 * its entry; open it in Chrome's DevTools or read it with bench/src/profile-top.ts).
 */
const PROFILE_DIR = process.env.BENCH_CPU_PROF;

/**
 * Starts `node entry`: a bundle (`.mjs`, built by infra/scripts/build.mjs, which bench.sh runs
 * first) as deployments run it, or a TypeScript file through tsx (the bench's own servers).
 */
export function spawnNode(entry: string, env: Record<string, string>): ChildProcess {
  const name = entry.split('/').slice(-3, -2)[0] ?? 'process';
  // A directory per process: V8 names each thread's file (the main thread's and its workers').
  const profile = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}/${name}-${Date.now()}`] : [];
  const loader = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...profile, ...loader, entry], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

export async function waitForOk(url: string, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(2000) })).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} not ready in time`);
}

/** Settings that take the limits out of a throughput measurement. */
const BENCH_ENV = {
  RATE_LIMIT_PER_IP_PER_MINUTE: '100000000',
  RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE: '100000000',
  LOGIN_FAILURES_PER_ACCOUNT: '100000000',
  LOG_LEVEL: 'warn',
  REALTIME_SOCKETS_PER_IP: '100000',
};

/**
 * Starts Gatehouse for a benchmark and returns its URL: the stack (five
 * processes on the machine's NATS, Redis and a fresh Postgres database) or the
 * embedded mode (one process).
 */
export async function startGatehouse(mode: 'stack' | 'embedded'): Promise<{
  url: string;
  /** Every gateway replica: the stack runs a second one (metrics off; realtime delivery), embedded has one. */
  gateways: string[];
  pids: Record<string, number | undefined>;
  stop(): Promise<void>;
}> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const gateways = [url];
  const children: ChildProcess[] = [];
  const pids: Record<string, number | undefined> = {};
  let cleanup = () => {};
  if (mode === 'embedded') {
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
    const child = spawnNode('apps/embedded/dist/main.mjs', {
      ...BENCH_ENV,
      ...embeddedEnv(port, dataDir),
    });
    children.push(child);
    pids.gatehouse = child.pid;
  } else {
    const pg = new URL(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    const name = `gh_bench_${randomBytes(4).toString('hex')}`;
    const psql = (sql: string) =>
      execFileSync('psql', [
        '-h',
        pg.hostname,
        '-p',
        pg.port || '5432',
        '-U',
        pg.username || 'postgres',
        '-d',
        'postgres',
        '-qc',
        sql,
      ]);
    psql(`CREATE DATABASE ${name}`);
    pg.pathname = `/${name}`;
    const env = {
      ...BENCH_ENV,
      NATS_URL: process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222',
      // A Redis database of its own, emptied before the run.
      REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/9',
      DATABASE_URL: pg.toString(),
      SECRET_KEY: randomBytes(32).toString('base64'),
      PORT: String(port),
      PUBLIC_URL: url,
    };
    execFileSync('redis-cli', ['-u', env.REDIS_URL, 'FLUSHDB']);
    for (const svc of ['identity', 'session', 'mfa', 'mailer', 'gateway']) {
      const child = spawnNode(`services/${svc}/dist/main.mjs`, env);
      children.push(child);
      pids[svc] = child.pid;
    }
    // A second gateway replica behind the same public URL, without metrics: GET /auth/session on it
    // against gateway A shows what the metrics cost; it also holds sockets for the realtime delivery.
    const portB = await freePort();
    const gatewayB = spawnNode('services/gateway/dist/main.mjs', { ...env, PORT: String(portB), METRICS: 'false' });
    children.push(gatewayB);
    pids['gateway b'] = gatewayB.pid;
    gateways.push(`http://127.0.0.1:${portB}`);
    cleanup = () => {
      try {
        psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } catch {}
    };
  }
  for (const gateway of gateways) await waitForOk(`${gateway}/readyz`);
  return {
    url,
    gateways,
    pids,
    stop: async () => {
      await Promise.all(
        children.map((c) => {
          if (c.exitCode !== null) return Promise.resolve();
          const exited = new Promise((r) => c.once('exit', r));
          c.kill('SIGTERM');
          return exited;
        }),
      );
      cleanup();
    },
  };
}
