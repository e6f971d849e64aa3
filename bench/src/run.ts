import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { argon2Rate } from './argon2-loop.ts';
import { type CpuSnapshot, spent as cpuSpent, RssSampler, snapshot } from './cpu.ts';
import { type Measured, sendEach } from './raw-load.ts';
import { type Delivery, realtimeDelivery } from './realtime-delivery.ts';
import { refreshChains } from './refresh-chain.ts';
import { remoteArgument, remoteBench, UsageError } from './remote.ts';
import { soak, soakArgument } from './soak.ts';
import { freePort, ROOT, spawnNode, startGatehouse, waitForOk } from './stack.ts';
import { verifyRate } from './verify-loop.ts';

/**
 * `pnpm bench`: one run, loopback only, bounded in time. A bare Fastify route
 * as the baseline, then the hot and the costly Gatehouse routes, then a raw
 * argon2id loop with the same parameters; prints req/s, p50 and p99 and the
 * ratios, and writes them to bench/results/latest.json.
 *
 * The pairs that form a ratio (bare vs session, login vs raw argon2id) are
 * measured alternately, ROUNDS times, and the medians compared: on a shared
 * 2-core VM the machine's speed drifts from one minute to the next, and a
 * ratio of two runs taken minutes apart measures that drift as much as Gatehouse.
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Logins before the measured ones, so that every process on the path runs optimised code. */
const LOGIN_WARMUP_SECONDS = 30;
const mode = (process.argv.includes('--embedded') ? 'embedded' : 'stack') as 'stack' | 'embedded';
// `pnpm bench -- --soak 10m`: the soak instead of the benchmark (soak.ts).
const soakSeconds = soakArgument(process.argv.slice(2));
if (soakSeconds !== null) process.exit(await soak(mode, soakSeconds));
// `pnpm bench -- --url URL`: the scenarios against a deployment already running (remote.ts).
let remote: ReturnType<typeof remoteArgument> = null;
try {
  remote = remoteArgument(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(err.message);
  process.exit(2);
}
if (remote) process.exit(await remoteBench(remote));
const PASSWORD = 'correct horse battery';
const ARGON2 = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
const UNMETERED = 'GET /auth/session, METRICS=false';
/** Users whose revocation is timed to their sockets on every gateway. */
const REALTIME_USERS = Number(process.env.BENCH_REALTIME_USERS ?? 200);
/** Seconds of refresh chains whose access tokens the cold-token scenario then sends once each. */
const COLD_COLLECT_SECONDS = Number(process.env.BENCH_COLD_SECONDS ?? 30);
/** Users whose sessions hand out the cold tokens. */
const COLD_USERS = 50;
const COLD = 'GET /auth/session, cold tokens';
const RAW_VERIFY = 'raw ES256 verify (node:crypto)';
/** The issue's targets, printed beside the figures. */
const TARGETS = { sessionVsBare: 0.6, meVsBare: 0.25, refresh: 3000, loginVsArgon2: 0.9, coldVsVerify: 0.9 };
const RSS_LIMIT_MB = { gatewayUnderLoad: 150, embeddedIdle: 300 };

interface Row extends Measured {
  name: string;
}

async function load(name: string, opts: autocannon.Options): Promise<Row> {
  const result = await autocannon({ duration: seconds, connections: 50, ...opts });
  const bad = result.non2xx + result.errors + result.timeouts;
  return {
    name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: bad,
    count: result.requests.total,
  };
}

/** The run with the median rate of `runs` (its latencies with it); errors summed over all. */
function median(runs: Row[]): Row {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  const mid = sorted[Math.floor(sorted.length / 2)] as Row;
  return { ...mid, errors: runs.reduce((n, r) => n + r.errors, 0) };
}

/** CPU ms per request by process over several runs: the sum of their CPU over the sum of their requests. */
function sumPerRequest(spans: [CpuSnapshot, CpuSnapshot][], runs: Row[]): [string, number][] {
  const total = runs.reduce((n, r) => n + r.count, 0);
  const byWho = new Map<string, number>();
  for (const [before, after] of spans) {
    for (const [who, seconds] of cpuSpent(before, after)) byWho.set(who, (byWho.get(who) ?? 0) + seconds);
  }
  return [...byWho]
    .map(([who, seconds]): [string, number] => [who, total > 0 ? (seconds * 1000) / total : 0])
    .sort((a, b) => b[1] - a[1]);
}

async function json(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

const barePort = await freePort();
const bare = spawnNode('bench/src/bare-server.ts', { PORT: String(barePort) });
await waitForOk(`http://127.0.0.1:${barePort}/bare`);
const gh = await startGatehouse(mode);
const rows: Row[] = [];
/** CPU ms per login and per raw hash, by process, over all rounds. */
let cpu: { login: [string, number][]; argon2: [string, number][] } | undefined;
/** CPU ms per refresh and per cold session check, by process. */
const cpuOf: Record<string, [string, number][]> = {};
/** From a logout's answer to its event on sockets of every gateway replica. */
let delivery: Delivery[] = [];
/** From a logout's answer until the other gateway refuses its token. */
let refusal: Awaited<ReturnType<typeof realtimeDelivery>>['refusal'] = null;
/** RSS of every Gatehouse process: the peak while a load ran, and after a rest at the end. */
const rss = new RssSampler(gh.pids);
let idleRss = new Map<string, number>();
try {
  const email = `bench-${Date.now()}@example.com`;
  const reg = await json(`${gh.url}/auth/register`, { email, password: PASSWORD });
  const auth = { authorization: `Bearer ${reg.access_token as string}` };
  const bareOpts = { url: `http://127.0.0.1:${barePort}/bare` };
  const sessionOpts = { url: `${gh.url}/auth/session`, headers: auth };
  const loginOpts = {
    url: `${gh.url}/auth/login`,
    connections: 8,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  };

  // Warm-up, unmeasured: the JIT optimises each server's hot code paths.
  const meOpts = { url: `${gh.url}/auth/me`, headers: auth };
  for (const opts of [bareOpts, sessionOpts, meOpts]) await autocannon({ duration: 2, connections: 50, ...opts });

  // Stack: gateway B runs without metrics, so the session check there against gateway A's is
  // what the metrics cost.
  const unmetered = gh.gateways[1];
  const unmeteredOpts = unmetered && { url: `${unmetered}/auth/session`, headers: auth };
  if (unmeteredOpts) await autocannon({ duration: 2, connections: 50, ...unmeteredOpts });
  const bareRuns: Row[] = [];
  const sessionRuns: Row[] = [];
  const unmeteredRuns: Row[] = [];
  const meRuns: Row[] = [];
  rss.sampling = true;
  for (let i = 0; i < ROUNDS; i++) {
    bareRuns.push(await load('bare fastify GET /bare', bareOpts));
    sessionRuns.push(await load('GET /auth/session', sessionOpts));
    if (unmeteredOpts) unmeteredRuns.push(await load(UNMETERED, unmeteredOpts));
    meRuns.push(await load('GET /auth/me', meOpts));
  }
  rows.push(median(bareRuns), median(sessionRuns));
  if (unmeteredRuns.length) rows.push(median(unmeteredRuns));
  rows.push(median(meRuns));

  // Each worker refreshes its own session's token chain, as real clients do.
  const pool: string[] = [];
  for (let i = 0; i < 20; i++) {
    pool.push((await json(`${gh.url}/auth/login`, { email, password: PASSWORD })).refresh_token as string);
  }
  const everyone = { ...gh.pids, 'load generator': process.pid };
  const beforeRefresh = snapshot(everyone);
  const refresh = await refreshChains(`${gh.url}/auth/refresh`, pool, seconds);
  const refreshRow = { name: 'POST /auth/refresh', ...refresh, count: Math.round(refresh.rps * seconds) };
  rows.push(refreshRow);
  cpuOf.refresh = sumPerRequest([[beforeRefresh, snapshot(everyone)]], [refreshRow]);

  // Cold tokens: many users' sessions, each access token sent once (the gateway verifies every
  // one's signature), against the raw ES256 verify loop in this process on the same tokens while
  // the stack idles, in alternating rounds.
  const coldPool: string[] = [];
  for (let i = 0; i < COLD_USERS; i++) {
    const cold = await json(`${gh.url}/auth/register`, { email: `cold-${i}-${email}`, password: PASSWORD });
    coldPool.push(cold.refresh_token as string);
  }
  const coldTokens: string[] = [];
  await refreshChains(`${gh.url}/auth/refresh`, coldPool, COLD_COLLECT_SECONDS, coldTokens);
  const jwks = ((await (await fetch(`${gh.url}/.well-known/jwks.json`)).json()) as { keys: { kid?: string }[] }).keys;
  verifyRate(jwks, coldTokens.slice(0, 2000)); // warm-up
  const chunk = Math.floor(coldTokens.length / ROUNDS);
  const coldRuns: Row[] = [];
  const coldSpans: [CpuSnapshot, CpuSnapshot][] = [];
  const verifyRuns: Row[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const tokens = coldTokens.slice(i * chunk, (i + 1) * chunk);
    const beforeCold = snapshot(everyone);
    const cold = await sendEach(
      `${gh.url}/auth/session`,
      (t) => ({ authorization: `Bearer ${tokens[t]}` }),
      tokens.length,
    );
    coldRuns.push({ name: COLD, ...cold });
    coldSpans.push([beforeCold, snapshot(everyone)]);
    await new Promise((r) => setTimeout(r, 300));
    verifyRuns.push({ name: RAW_VERIFY, ...verifyRate(jwks, tokens), errors: 0 });
  }
  rows.push(median(coldRuns), median(verifyRuns));
  cpuOf.cold = sumPerRequest(coldSpans, coldRuns);

  // The raw hash loop runs in this process while the stack sits idle: as many
  // hashes in parallel as the libuv threadpool runs, the same parameters as the service.
  // The CPU time of every process (Gatehouse's, the shared servers', this one's
  // as the load generator or the hasher) is added up over the rounds.
  const named = { ...gh.pids, 'load generator': process.pid };
  // Warm-up, unmeasured, as for the routes above. A login crosses four
  // processes, each running its own part of the path at only ~100 a second,
  // so V8 takes a while to optimise it all: on this machine the CPU a login
  // costs beyond its hash falls from 5.2 ms in the first 10 s of logins to
  // 2.9 ms after 40 s, and stays there. A server that has been up for a
  // minute has paid that long ago. The hash loop gets a warm-up too.
  await autocannon({ ...loginOpts, duration: LOGIN_WARMUP_SECONDS });
  await new Promise((r) => setTimeout(r, 500));
  await argon2Rate(ARGON2, 2, 4);
  const loginRuns: Row[] = [];
  const argonRuns: Row[] = [];
  const spent = { login: [] as [CpuSnapshot, CpuSnapshot][], argon2: [] as [CpuSnapshot, CpuSnapshot][] };
  for (let i = 0; i < ROUNDS; i++) {
    let before = snapshot(named);
    loginRuns.push(await load('POST /auth/login', loginOpts));
    spent.login.push([before, snapshot(named)]);
    // Let the requests autocannon left in flight finish before the hash loop starts.
    await new Promise((r) => setTimeout(r, 500));
    before = snapshot({ 'raw argon2id loop': process.pid });
    argonRuns.push({
      name: 'raw argon2id hash (m=19456,t=2,p=1)',
      ...(await argon2Rate(ARGON2, seconds, 4)),
      errors: 0,
    });
    spent.argon2.push([before, snapshot({ 'raw argon2id loop': process.pid })]);
  }
  rows.push(median(loginRuns), median(argonRuns));
  cpu = {
    login: sumPerRequest(spent.login, loginRuns),
    argon2: sumPerRequest(spent.argon2, argonRuns),
  };
  ({ sockets: delivery, refusal } = await realtimeDelivery(gh.gateways, REALTIME_USERS));
  rss.sampling = false;
  // At rest: what each process keeps once the load is over.
  await new Promise((r) => setTimeout(r, 5000));
  idleRss = rss.now();
} finally {
  await gh.stop();
  bare.kill('SIGTERM');
}

const rate = (name: string) => rows.find((r) => r.name === name)?.rps ?? 0;
const ratios = {
  session_vs_bare: rate('GET /auth/session') / rate('bare fastify GET /bare'),
  login_vs_argon2: rate('POST /auth/login') / rate('raw argon2id hash (m=19456,t=2,p=1)'),
  /** GET /auth/session with metrics over without (stack: two gateways; 1 would be free). */
  session_metrics_vs_none: rate(UNMETERED) > 0 ? rate('GET /auth/session') / rate(UNMETERED) : null,
  me_vs_bare: rate('GET /auth/me') / rate('bare fastify GET /bare'),
  cold_session_vs_raw_verify: rate(COLD) / rate(RAW_VERIFY),
};
const memory = Object.fromEntries(
  [...rss.peak].map(([who, peak]) => [
    who,
    { under_load_mb: Math.round(peak), idle_mb: Math.round(idleRss.get(who) ?? 0) },
  ]),
);

console.log(
  `\nGatehouse benchmark (${mode} mode, ${seconds} s per run, medians of ${ROUNDS} for the ratios, loopback)\n`,
);
console.log(
  `${'what'.padEnd(40)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'non-2xx'.padStart(8)}`,
);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(40)} ${r.rps.toFixed(0).padStart(9)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${String(r.errors).padStart(8)}`,
  );
}
if (cpu && cpu.login.length > 0) {
  const line = (parts: [string, number][]) => {
    const total = parts.reduce((n, [, ms]) => n + ms, 0);
    // Two decimals for the sub-millisecond paths (a refresh, a session check).
    const digits = total < 3 ? 2 : 1;
    return `${total.toFixed(digits)} ms (${parts
      .filter(([, ms]) => ms >= 0.5 * 10 ** -digits)
      .map(([who, ms]) => `${who} ${ms.toFixed(digits)}`)
      .join(', ')})`;
  };
  console.log(`\nCPU per login:    ${line(cpu.login)}`);
  console.log(`CPU per raw hash: ${line(cpu.argon2)}`);
  if (cpuOf.refresh) console.log(`CPU per refresh:  ${line(cpuOf.refresh)}`);
  if (cpuOf.cold) console.log(`CPU per cold session check: ${line(cpuOf.cold)}`);
}
for (const [i, d] of delivery.entries()) {
  const which = i === 0 ? 'gateway A (the revoking one)' : `gateway ${String.fromCharCode(65 + i)} (another process)`;
  console.log(
    `${i === 0 ? '\n' : ''}revocation -> socket, ${which}: p50 ${d.p50} ms, p99 ${d.p99} ms, max ${d.max} ms over ${d.n} events, ${d.lost} lost (target: every one within 1000 ms)`,
  );
}
if (refusal) {
  console.log(
    `revocation -> refused at gateway B: p50 ${refusal.p50} ms, p99 ${refusal.p99} ms, max ${refusal.max} ms over ${refusal.n} logouts (target: p99 within 50 ms)`,
  );
}
console.log('\nRSS MB (peak under load, at rest after):');
for (const [who, m] of Object.entries(memory)) {
  const limit = who.startsWith('gateway')
    ? ` (target under load < ${RSS_LIMIT_MB.gatewayUnderLoad})`
    : who === 'gatehouse'
      ? ` (target at rest < ${RSS_LIMIT_MB.embeddedIdle})`
      : '';
  console.log(`  ${who.padEnd(12)} ${String(m.under_load_mb).padStart(5)} ${String(m.idle_mb).padStart(5)}${limit}`);
}
const target = (ok: boolean) => (ok ? 'met' : 'NOT met');
console.log(
  `\nsession / bare fastify:       ${ratios.session_vs_bare.toFixed(2)} (target >= ${TARGETS.sessionVsBare.toFixed(2)}: ${target(ratios.session_vs_bare >= TARGETS.sessionVsBare)})`,
);
console.log(
  `/auth/me / bare fastify:      ${ratios.me_vs_bare.toFixed(2)} (target >= ${TARGETS.meVsBare.toFixed(2)}: ${target(ratios.me_vs_bare >= TARGETS.meVsBare)})`,
);
console.log(
  `refresh:                      ${rate('POST /auth/refresh').toFixed(0)}/s (target >= ${TARGETS.refresh}: ${target(rate('POST /auth/refresh') >= TARGETS.refresh)})`,
);
console.log(
  `login / raw argon2id:         ${ratios.login_vs_argon2.toFixed(2)} (target >= ${TARGETS.loginVsArgon2.toFixed(2)}: ${target(ratios.login_vs_argon2 >= TARGETS.loginVsArgon2)})`,
);
console.log(
  `cold session / raw verify:    ${ratios.cold_session_vs_raw_verify.toFixed(2)} (target >= ${TARGETS.coldVsVerify.toFixed(2)}: ${target(ratios.cold_session_vs_raw_verify >= TARGETS.coldVsVerify)})`,
);
if (ratios.session_metrics_vs_none !== null) {
  console.log(
    `session with metrics / without: ${ratios.session_metrics_vs_none.toFixed(2)} (gateway A against gateway B, METRICS=false; 1.00 = free)`,
  );
}

const out = join(ROOT, 'bench', 'results');
mkdirSync(out, { recursive: true });
const file = join(out, 'latest.json');
writeFileSync(
  file,
  JSON.stringify(
    {
      at: new Date().toISOString(),
      mode,
      seconds,
      rounds: ROUNDS,
      rows,
      ratios,
      realtime_delivery_ms: delivery,
      revocation_refused_ms: refusal,
      rss_mb: memory,
      cpu_ms_per_request: cpu && {
        login: Object.fromEntries(cpu.login),
        argon2: Object.fromEntries(cpu.argon2),
        ...Object.fromEntries(Object.entries(cpuOf).map(([what, parts]) => [what, Object.fromEntries(parts)])),
      },
    },
    null,
    2,
  ),
);
console.log(`\nwritten to ${file}`);
