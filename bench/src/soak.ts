import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rssMb } from './cpu.ts';
import { ROOT, startGatehouse } from './stack.ts';

/**
 * `pnpm bench -- --soak 10m`: Gatehouse under a steady load for that long, at half of the
 * capacity it measures first for the same mix of requests, printing every interval (a minute, or
 * a tenth of a shorter run) the requests, the error rate, p50 and p99 and the RSS of every
 * Gatehouse process. Passes when no process's RSS grew 10 % or more from the end of the first
 * interval (warm: the JIT and the heaps have settled) to the end, and at most 0.1 % of requests
 * failed. Loopback only; every loop ends by its deadline.
 *
 * The mix, per request: 45 % GET /auth/session, 35 % GET /auth/me, 15 % POST /auth/refresh (each
 * user rotates its own chain), and a sign-in then its sign-out (argon2id: a few per second) for the
 * sessions that come and go; spread over every gateway.
 */
const PASSWORD = 'correct horse battery';
const USERS = 50;
const CAPACITY_SECONDS = 10;
const CONNECTIONS = 50;
/** Sign-ins (and sign-outs) per second at most: the hash is the costliest thing on the path. */
const CHURN_PER_SECOND = 4;

interface User {
  email: string;
  access: string;
  refresh: string;
  /** A refresh of this user's chain is in flight: its token is about to change. */
  busy: boolean;
}

interface Interval {
  requests: number;
  errors: number;
  latencies: number[];
}

const emptyInterval = (): Interval => ({ requests: 0, errors: 0, latencies: [] });

/** `10m`, `90s`, `1h`, or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`--soak: cannot read the duration ${text} (say 10m, 90s)`);
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'] ?? 1);
}

/** The duration after `--soak` (or in `--soak=10m`), or null without one. */
export function soakArgument(argv: string[]): number | null {
  const args = argv.filter((a) => a !== '--');
  const at = args.findIndex((a) => a === '--soak' || a.startsWith('--soak='));
  if (at < 0) return null;
  const value = args[at]?.includes('=') ? args[at]?.split('=')[1] : args[at + 1];
  return parseDuration(value ?? '10m');
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, body };
}

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

export async function soak(mode: 'stack' | 'embedded', seconds: number): Promise<number> {
  const gh = await startGatehouse(mode);
  const stopOnSignal = () => void gh.stop().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    return await run(gh, mode, seconds);
  } finally {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    await gh.stop();
  }
}

async function run(gh: Awaited<ReturnType<typeof startGatehouse>>, mode: string, seconds: number): Promise<number> {
  const { gateways } = gh;
  const stamp = Date.now();
  const users: User[] = [];
  for (let i = 0; i < USERS; i++) {
    const email = `soak-${stamp}-${i}@example.com`;
    const reg = await call(`${gh.url}/auth/register`, json({ email, password: PASSWORD }));
    if (reg.status !== 200 && reg.status !== 201)
      throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
    const b = reg.body as { access_token: string; refresh_token: string };
    users.push({ email, access: b.access_token, refresh: b.refresh_token, busy: false });
  }

  let current = emptyInterval();
  let churnTokens = 0;
  let op = 0;
  /** One request of the mix; records into the current interval. */
  const one = async (): Promise<void> => {
    const n = op++;
    const gateway = gateways[n % gateways.length] as string;
    const user = users[n % users.length] as User;
    const roll = n % 20; // 9 session, 7 me, 3 refresh, 1 churn (when the churn budget allows)
    const started = performance.now();
    let ok = false;
    try {
      if (roll === 19 && churnTokens > 0) {
        churnTokens--;
        const login = await call(`${gateway}/auth/login`, json({ email: user.email, password: PASSWORD }));
        const token = (login.body as { access_token?: string } | null)?.access_token;
        ok = login.status === 200 && typeof token === 'string';
        if (ok) {
          const out = await call(`${gateway}/auth/logout`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
          });
          ok = out.status === 204 || out.status === 200;
        }
      } else if (roll >= 16 && !user.busy) {
        user.busy = true;
        try {
          const res = await call(`${gateway}/auth/refresh`, json({ refresh_token: user.refresh }));
          ok = res.status === 200;
          if (ok) {
            const b = res.body as { access_token: string; refresh_token: string };
            user.access = b.access_token;
            user.refresh = b.refresh_token;
          }
        } finally {
          user.busy = false;
        }
      } else {
        const path = roll < 9 || roll === 19 ? '/auth/session' : '/auth/me';
        const res = await call(`${gateway}${path}`, { headers: { authorization: `Bearer ${user.access}` } });
        ok = res.status === 200;
      }
    } catch {
      ok = false;
    }
    current.requests++;
    if (!ok) current.errors++;
    current.latencies.push(performance.now() - started);
  };

  const churnTimer = setInterval(() => {
    churnTokens = Math.min(CHURN_PER_SECOND, churnTokens + CHURN_PER_SECOND);
  }, 1000);
  try {
    // Warm-up, then capacity: CONNECTIONS workers back to back, the same mix.
    const closedLoop = async (forSeconds: number) => {
      const end = Date.now() + forSeconds * 1000;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (Date.now() < end) await one();
        }),
      );
    };
    await closedLoop(5);
    current = emptyInterval();
    const capStart = performance.now();
    await closedLoop(CAPACITY_SECONDS);
    const capacity = current.requests / ((performance.now() - capStart) / 1000);
    const rate = Math.max(1, Math.floor(capacity / 2));
    console.log(
      `soak (${mode}): capacity ${Math.round(capacity)} req/s for the mix (${CAPACITY_SECONDS} s, ${CONNECTIONS} connections, errors ${current.errors}); soaking ${seconds} s at ${rate} req/s`,
    );

    const names = Object.keys(gh.pids);
    const idle = Object.fromEntries(names.map((name) => [name, rssMb(gh.pids[name])]));
    await new Promise((r) => setTimeout(r, 2000));
    const idleAfter = Object.fromEntries(names.map((name) => [name, rssMb(gh.pids[name])]));
    console.log(
      `RSS before the soak (MB): ${names.map((n) => `${n} ${fmt(idleAfter[n] ?? idle[n] ?? null)}`).join(', ')}`,
    );

    const intervalSeconds = Math.max(5, Math.min(60, seconds / 10));
    const rows: {
      at: number;
      requests: number;
      errors: number;
      errorRate: number;
      p50: number;
      p99: number;
      rss: Record<string, number | null>;
    }[] = [];
    current = emptyInterval();
    const end = Date.now() + seconds * 1000;
    const inFlight = new Set<Promise<void>>();
    const maxInFlight = CONNECTIONS * 4;
    let dropped = 0;
    let nextReport = Date.now() + intervalSeconds * 1000;
    const startedAt = Date.now();
    let sent = 0;
    // Open loop: requests are sent on a schedule, whether or not the earlier ones came back.
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - startedAt) / 1000) * rate);
      while (sent < due) {
        sent++;
        if (inFlight.size >= maxInFlight) {
          // Gatehouse fell behind: the request could not even be sent. Counted as an error.
          dropped++;
          current.requests++;
          current.errors++;
          continue;
        }
        const p = one().finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      if (Date.now() >= nextReport) {
        nextReport += intervalSeconds * 1000;
        const done = current;
        current = emptyInterval();
        const sorted = done.latencies.sort((a, b) => a - b);
        const row = {
          at: Math.round((Date.now() - startedAt) / 1000),
          requests: done.requests,
          errors: done.errors,
          errorRate: done.requests ? done.errors / done.requests : 0,
          p50: quantile(sorted, 0.5),
          p99: quantile(sorted, 0.99),
          rss: Object.fromEntries(names.map((name) => [name, rssMb(gh.pids[name])])),
        };
        rows.push(row);
        console.log(
          `${String(row.at).padStart(5)} s  ${row.requests} req (${(row.requests / intervalSeconds).toFixed(0)}/s)  errors ${(row.errorRate * 100).toFixed(3)} %  p50 ${row.p50.toFixed(1)} ms  p99 ${row.p99.toFixed(1)} ms  RSS MB: ${names.map((n) => `${n} ${fmt(row.rss[n] ?? null)}`).join(', ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.race([Promise.all(inFlight), new Promise((r) => setTimeout(r, 15_000))]);

    const total = rows.reduce((n, r) => n + r.requests, 0) + current.requests;
    const errors = rows.reduce((n, r) => n + r.errors, 0) + current.errors;
    const errorRate = total ? errors / total : 0;
    const first = rows[0];
    const last = rows[rows.length - 1];
    const growth = Object.fromEntries(
      names.map((name) => {
        const a = first?.rss[name];
        const b = last?.rss[name];
        return [name, a && b ? (b - a) / a : null];
      }),
    );
    const worstP99 = Math.max(0, ...rows.map((r) => r.p99));
    console.log(
      `\nsoak summary: ${total} requests in ${seconds} s at ${rate} req/s (half of ${Math.round(capacity)}), errors ${errors} (${(errorRate * 100).toFixed(3)} %, ${dropped} not sent: too many in flight), worst interval p99 ${worstP99.toFixed(1)} ms`,
    );
    for (const name of names) {
      const g = growth[name];
      console.log(
        `  ${name.padEnd(10)} RSS ${fmt(first?.rss[name] ?? null)} MB after the first interval, ${fmt(last?.rss[name] ?? null)} MB at the end: ${g === null || g === undefined ? 'n/a' : `${g >= 0 ? '+' : ''}${(g * 100).toFixed(1)} %`}`,
      );
    }
    const grewTooMuch = names.filter((n) => (growth[n] ?? 0) >= 0.1);
    const pass = rows.length >= 2 && grewTooMuch.length === 0 && errorRate <= 0.001;
    console.log(
      pass
        ? 'soak: PASS (RSS growth under 10 % for every process, errors at most 0.1 %)'
        : `soak: FAIL (${rows.length < 2 ? 'too short for two intervals; ' : ''}${grewTooMuch.length ? `RSS grew 10 % or more: ${grewTooMuch.join(', ')}; ` : ''}${errorRate > 0.001 ? 'error rate above 0.1 %' : ''})`,
    );
    const dir = join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'soak-latest.json'),
      `${JSON.stringify({ mode, seconds, capacity, rate, total, errors, errorRate, dropped, worstP99, idle: idleAfter, intervals: rows, growth, pass, at: new Date().toISOString() }, null, 2)}\n`,
    );
    return pass ? 0 : 1;
  } finally {
    clearInterval(churnTimer);
  }
}

function fmt(mb: number | null): string {
  return mb === null ? '-' : mb.toFixed(0);
}
