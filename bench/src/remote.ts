import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { type Measured, sendEach } from './raw-load.ts';
import { refreshChains } from './refresh-chain.ts';
import { ROOT } from './stack.ts';

/**
 * `pnpm bench -- --url URL`: the benchmark's scenarios against a deployment already running
 * (its own users, created first and deleted at the end), and a sizing estimate from the CPU the
 * deployment's processes report (`process_cpu_seconds_total` on the gateway's `/metrics` and on
 * the operations ports given with `--ops service=URL`).
 */
export interface RemoteOptions {
  url: string;
  /** Sign-ins per second the deployment must take: how many identity replicas that needs. */
  targetLogins?: number;
  /** Session checks per second: how many gateway replicas. */
  targetSessions?: number;
  /** Operations ports' base URLs by service (identity, session, ...), for their CPU. */
  ops: Record<string, string>;
}

/** A wrong argument: said in one line, exit code 2. */
export class UsageError extends Error {}

const USERS = 20;
const PASSWORD = 'correct horse battery';
const MAX_COLD_TOKENS = 20_000;

function rate(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(\/s)?$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) throw new UsageError(`${what}: a rate such as 500/s, got "${text}"`);
  return Number(m[1]);
}

/** The options after `--url` (and its companions), or null without `--url`. Throws UsageError. */
export function remoteArgument(argv: string[]): RemoteOptions | null {
  const args = argv.filter((a) => a !== '--');
  const values = (name: string): string[] => {
    const found: string[] = [];
    args.forEach((a, i) => {
      if (a === name) {
        const v = args[i + 1];
        if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
        found.push(v);
      } else if (a.startsWith(`${name}=`)) found.push(a.slice(name.length + 1));
    });
    return found;
  };
  const [url] = values('--url');
  if (url === undefined) return null;
  try {
    const parsed = new URL(url);
    if (!/^https?:$/.test(parsed.protocol)) throw new Error();
  } catch {
    throw new UsageError(`--url: an http(s) URL such as http://127.0.0.1:8080, got "${url}"`);
  }
  const ops: Record<string, string> = {};
  for (const entry of values('--ops')) {
    const at = entry.indexOf('=');
    if (at <= 0) throw new UsageError(`--ops: service=URL, such as identity=http://127.0.0.1:9090, got "${entry}"`);
    ops[entry.slice(0, at)] = entry.slice(at + 1).replace(/\/+$/, '');
  }
  const [logins] = values('--target-logins');
  const [sessions] = values('--target-sessions');
  return {
    url: url.replace(/\/+$/, ''),
    ops,
    ...(logins !== undefined ? { targetLogins: rate(logins, '--target-logins') } : {}),
    ...(sessions !== undefined ? { targetSessions: rate(sessions, '--target-sessions') } : {}),
  };
}

/** `errors`: answers that were not 2xx (429s included); `limited`: the 429s. */
interface Row extends Measured {
  name: string;
  limited: number;
  /** CPU ms per request by process, where the process reports its CPU. */
  cpu: Record<string, number>;
}

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {}
  return { status: res.status, body };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  call(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

/** `process_cpu_seconds_total` of each source that answers, by its name. */
async function cpuSeconds(sources: Record<string, string>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    Object.entries(sources).map(async ([who, url]) => {
      try {
        const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3_000) });
        if (res.status !== 200) return;
        const m = /^process_cpu_seconds_total(?:\{[^}]*\})? ([0-9.e+-]+)$/m.exec(await res.text());
        if (m) out.set(who, Number(m[1]));
      } catch {}
    }),
  );
  return out;
}

interface User {
  email: string;
  access: string;
  refresh: string;
}

export async function remoteBench(options: RemoteOptions): Promise<number> {
  const { url } = options;
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  try {
    await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3_000) });
  } catch {
    console.error(`--url ${url}: nothing answers there (GET /healthz failed)`);
    return 1;
  }
  const sources: Record<string, string> = { gateway: url, ...options.ops };
  const users: User[] = [];
  let interrupted = false;
  const cleanup = async () => {
    let removed = 0;
    for (const user of users) {
      let access = user.access;
      let res = await call(`${url}/auth/me`, {
        method: 'DELETE',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${access}` },
        body: JSON.stringify({ password: PASSWORD }),
      }).catch(() => ({ status: 0, body: {} }));
      if (res.status === 401) {
        // Signed out meanwhile: sign in again to delete it.
        const login = await post(`${url}/auth/login`, { email: user.email, password: PASSWORD }).catch(() => null);
        access = (login?.body.access_token as string | undefined) ?? '';
        res = await call(`${url}/auth/me`, {
          method: 'DELETE',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${access}` },
          body: JSON.stringify({ password: PASSWORD }),
        }).catch(() => ({ status: 0, body: {} }));
      }
      if (res.status === 204) removed++;
    }
    console.log(`\nremoved ${removed} of the ${users.length} users this run created`);
    return removed;
  };
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  const rows: Row[] = [];
  const prefix = `bench-url-${Date.now()}-${randomBytes(3).toString('hex')}`;
  try {
    for (let i = 0; i < USERS && !interrupted; i++) {
      const email = `${prefix}-${i}@example.com`;
      const reg = await post(`${url}/auth/register`, { email, password: PASSWORD });
      if (reg.status !== 201)
        throw new Error(`POST /auth/register answered ${reg.status}: ${JSON.stringify(reg.body)}`);
      users.push({ email, access: reg.body.access_token as string, refresh: reg.body.refresh_token as string });
    }
    const measured = async (
      name: string,
      run: () => Promise<{ rps: number; p50: number; p99: number; errors: number; count: number; limited?: number }>,
    ) => {
      if (interrupted) return;
      const before = await cpuSeconds(sources);
      const r = await run();
      const after = await cpuSeconds(sources);
      const cpu: Record<string, number> = {};
      for (const [who, s] of after) {
        const b = before.get(who);
        if (b !== undefined && r.count > 0) cpu[who] = ((s - b) * 1000) / r.count;
      }
      rows.push({ name, ...r, limited: r.limited ?? 0, cpu });
    };
    const cannon = async (opts: autocannon.Options) => {
      const result = await autocannon({ duration: seconds, connections: 50, ...opts });
      const limited = (result.statusCodeStats as Record<string, { count: number }> | undefined)?.['429']?.count ?? 0;
      return {
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        errors: result.non2xx + result.errors + result.timeouts,
        count: result.requests.total,
        limited,
      };
    };
    const first = users[0] as User;
    const bearer = { authorization: `Bearer ${first.access}` };
    await autocannon({ url: `${url}/auth/session`, duration: 2, connections: 50, headers: bearer }); // warm-up
    await measured('GET /auth/session', () => cannon({ url: `${url}/auth/session`, headers: bearer }));
    await measured('GET /auth/me', () => cannon({ url: `${url}/auth/me`, headers: bearer }));
    const cold: string[] = [];
    await measured('POST /auth/refresh', async () => {
      const r = await refreshChains(
        `${url}/auth/refresh`,
        users.map((u) => u.refresh),
        seconds,
        cold,
      );
      return { ...r, count: Math.round(r.rps * seconds) };
    });
    const tokens = cold.slice(0, MAX_COLD_TOKENS);
    if (tokens.length > 0) {
      await measured('GET /auth/session, cold tokens', () =>
        sendEach(`${url}/auth/session`, (i) => ({ authorization: `Bearer ${tokens[i]}` }), tokens.length),
      );
    }
    await measured('POST /auth/login', () =>
      cannon({
        url: `${url}/auth/login`,
        connections: 8,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: first.email, password: PASSWORD }),
      }),
    );
  } catch (err) {
    console.error(`--url ${url}: ${(err as Error).message}`);
    await cleanup();
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
  }
  const removed = await cleanup();
  if (interrupted) return 130;
  return report(options, rows, { created: users.length, removed, prefix });
}

function report(
  options: RemoteOptions,
  rows: Row[],
  users: { created: number; removed: number; prefix: string },
): number {
  console.log(`\nGatehouse at ${options.url} (${Number(process.env.BENCH_SECONDS ?? 5)} s per run)\n`);
  console.log(
    `${'what'.padEnd(34)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'non-2xx'.padStart(8)}  CPU ms per request`,
  );
  for (const r of rows) {
    const cpu = Object.entries(r.cpu)
      .map(([who, ms]) => `${who} ${ms.toFixed(2)}`)
      .join(', ');
    console.log(
      `${r.name.padEnd(34)} ${r.rps.toFixed(0).padStart(9)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${String(r.errors).padStart(8)}  ${cpu || '(no /metrics)'}`,
    );
  }
  const limited = rows.reduce((n, r) => n + r.limited, 0);
  if (limited > 0) {
    console.log(
      `\n${limited} answers were 429: the deployment's rate limits (RATE_LIMIT_PER_IP_PER_MINUTE, RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE, LOGIN_FAILURES_PER_ACCOUNT) cap these figures`,
    );
  }
  const row = (name: string) => rows.find((r) => r.name === name);
  const perCore = (name: string, who: string) => {
    const ms = row(name)?.cpu[who];
    return ms && ms > 0 ? 1000 / ms : null;
  };
  const sessionsPerCore = perCore('GET /auth/session', 'gateway');
  const loginsPerCore = perCore('POST /auth/login', 'identity');
  const replicas = (target: number | undefined, each: number | null) =>
    target !== undefined && each ? Math.max(1, Math.ceil(target / each)) : null;
  const sizing = {
    session_checks_per_gateway_core: sessionsPerCore && Math.round(sessionsPerCore),
    logins_per_identity_core: loginsPerCore && Math.round(loginsPerCore),
    target_logins_per_second: options.targetLogins ?? null,
    identity_replicas: replicas(options.targetLogins, loginsPerCore),
    target_session_checks_per_second: options.targetSessions ?? null,
    gateway_replicas: replicas(options.targetSessions, sessionsPerCore),
  };
  console.log('\nSizing (one core per replica; the CPU each process reports over the requests it served):');
  console.log(
    sessionsPerCore
      ? `  session checks per gateway core: ${sizing.session_checks_per_gateway_core}/s`
      : "  session checks per gateway core: unknown (the gateway's /metrics did not answer: METRICS=false?)",
  );
  console.log(
    loginsPerCore
      ? `  sign-ins per identity core:      ${sizing.logins_per_identity_core}/s`
      : "  sign-ins per identity core:      unknown (give identity's operations port: --ops identity=http://host:9090)",
  );
  if (sizing.identity_replicas !== null) {
    console.log(`  ${options.targetLogins}/s sign-ins need ${sizing.identity_replicas} identity replica(s)`);
  }
  if (sizing.gateway_replicas !== null) {
    console.log(`  ${options.targetSessions}/s session checks need ${sizing.gateway_replicas} gateway replica(s)`);
  }
  console.log(
    "  (in the embedded mode one process serves everything: its CPU is every service's, so read the figures per process)",
  );
  const out = join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, 'remote-latest.json');
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), url: options.url, rows, sizing, users }, null, 2));
  console.log(`\nwritten to ${file}`);
  return 0;
}
