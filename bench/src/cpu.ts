import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time by process, read from /proc (Linux): which part of the machine a
 * request costs. On two shared cores a rate ratio drifts with the machine's
 * speed; CPU milliseconds per request, split by process, say where the time goes.
 */
export type CpuSnapshot = Map<string, { who: string; seconds: number }>;

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux of the last decades

/** A process's user + system CPU seconds, or undefined when it has gone. */
function cpuSeconds(pid: number | string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The machine's shared servers, by their executable's name. */
function serverName(pid: string): string | undefined {
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm === 'nats-server' || comm === 'redis-server') return comm;
    if (comm === 'postgres' || comm.startsWith('postgres:')) return 'postgres';
  } catch {}
  return undefined;
}

/**
 * CPU seconds so far of `named` processes (Gatehouse's own, this process as
 * the load generator) and of every nats-server, redis-server and postgres
 * process on the machine. Empty where there is no /proc.
 */
export function snapshot(named: Record<string, number | undefined>): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const [who, pid] of Object.entries(named)) {
    const seconds = pid === undefined ? undefined : cpuSeconds(pid);
    if (seconds !== undefined) out.set(String(pid), { who, seconds });
  }
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const pid of pids) {
    if (out.has(pid)) continue;
    const who = serverName(pid);
    if (!who) continue;
    const seconds = cpuSeconds(pid);
    if (seconds !== undefined) out.set(pid, { who, seconds });
  }
  return out;
}

/** CPU seconds each process (by name) spent between two snapshots. */
export function spent(before: CpuSnapshot, after: CpuSnapshot): Map<string, number> {
  const byWho = new Map<string, number>();
  for (const [pid, { who, seconds }] of after) {
    byWho.set(who, (byWho.get(who) ?? 0) + seconds - (before.get(pid)?.seconds ?? 0));
  }
  return byWho;
}

/** A process's resident set in MB, or null when it has gone (or there is no /proc). */
export function rssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The highest RSS of each named process while `sampling` is on (every 250 ms), and the RSS now:
 * the memory a process holds under load, and once the load is over.
 */
export class RssSampler {
  readonly #named: Record<string, number | undefined>;
  readonly peak = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(named: Record<string, number | undefined>) {
    this.#named = named;
  }

  set sampling(on: boolean) {
    if (on && !this.#timer) {
      this.#timer = setInterval(() => this.#sample(), 250);
      this.#timer.unref();
    } else if (!on && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#sample();
    }
  }

  now(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [who, pid] of Object.entries(this.#named)) {
      const mb = rssMb(pid);
      if (mb !== null) out.set(who, mb);
    }
    return out;
  }

  #sample(): void {
    for (const [who, mb] of this.now()) this.peak.set(who, Math.max(this.peak.get(who) ?? 0, mb));
  }
}
