import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { freePort } from '@gatehouse/kit/testing';

export const ROOT = resolve(import.meta.dirname, '../..');

/** A process started by a test, with its output kept for the failure message. */
export class Proc {
  readonly child: ChildProcess;
  readonly output: string[] = [];
  constructor(
    readonly name: string,
    command: string,
    args: string[],
    env: Record<string, string>,
  ) {
    this.child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer) => {
      this.output.push(b.toString());
      if (this.output.length > 200) this.output.shift();
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
  }

  /** Stops the process (SIGTERM, then SIGKILL after 5 s). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  tail(): string {
    return `--- ${this.name} ---\n${this.output.join('').slice(-3000)}`;
  }
}

/** A TypeScript entry point run the way the product runs it. */
export const node = (name: string, entry: string, env: Record<string, string>) =>
  new Proc(name, process.execPath, ['--import', 'tsx', entry], env);

export { freePort };

/** Waits until `url` answers 200, or throws with the processes' output. */
export async function waitForOk(url: string, procs: Proc[], ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const p of procs) {
      if (p.child.exitCode !== null) throw new Error(`${p.name} exited early\n${p.tail()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not become ready\n${procs.map((p) => p.tail()).join('\n')}`);
}

export const secretKey = () => randomBytes(32).toString('base64');

/** Creates a fresh Postgres database for one test run and returns its URL. */
export function createDatabase(baseUrl: string): { url: string; drop(): void } {
  const name = `gh_it_${randomBytes(4).toString('hex')}`;
  const admin = new URL(baseUrl);
  const psql = (sql: string) =>
    execFileSync(
      'psql',
      [
        '-h',
        admin.hostname,
        '-p',
        admin.port || '5432',
        '-U',
        admin.username || 'postgres',
        '-d',
        'postgres',
        '-qc',
        sql,
      ],
      {
        stdio: 'pipe',
      },
    );
  psql(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Waits until something listens on 127.0.0.1:`port` (a server the test started), at most `ms`. */
export async function tcpUp(port: number, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const up = await new Promise<boolean>((ok) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        ok(true);
      }).on('error', () => ok(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}
