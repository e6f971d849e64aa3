import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proc } from './processes.ts';

/** Debian's newest PostgreSQL server binaries. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(a) - Number(b)) : [];
  const newest = versions.at(-1);
  if (!newest) throw new Error('no PostgreSQL server under /usr/lib/postgresql (apt install postgresql)');
  return join(root, newest, 'bin');
}

/**
 * A PostgreSQL cluster of the test's own, on a free loopback port, that the
 * test may stop and start again (the machine's shared one it may not). Run as
 * the `postgres` user when the test runs as root (initdb refuses root).
 */
export class PrivatePostgres {
  readonly dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'));
  readonly #bin = binDir();
  readonly #asRoot = process.getuid?.() === 0;
  #proc: Proc | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  #run(command: string, args: string[]): string[] {
    // setpriv execs the program itself (no process in between), so a signal reaches it.
    const asPostgres = ['setpriv', '--reuid', 'postgres', '--regid', 'postgres', '--init-groups', '--'];
    return [...(this.#asRoot ? asPostgres : []), join(this.#bin, command), ...args];
  }

  /** Creates the cluster (trust auth over loopback), then starts it. */
  async init(): Promise<void> {
    const data = join(this.dir, 'data');
    if (this.#asRoot) {
      chmodSync(this.dir, 0o755);
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(this.dir, uid, gid);
    }
    const [cmd, ...args] = this.#run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    execFileSync(cmd as string, args, { stdio: 'pipe' });
    await this.start();
  }

  async start(): Promise<void> {
    const [cmd, ...args] = this.#run('postgres', [
      '-D',
      join(this.dir, 'data'),
      '-p',
      String(this.port),
      '-k',
      this.dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ]);
    this.#proc = new Proc('postgres', cmd as string, args, {});
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      try {
        execFileSync(join(this.#bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(this.port)]);
        return;
      } catch {
        if (this.#proc.child.exitCode !== null) throw new Error(`postgres exited\n${this.#proc.tail()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`postgres did not start\n${this.#proc.tail()}`);
  }

  /** Stops it: SIGINT is PostgreSQL's fast shutdown (sessions cut, no crash recovery next start). */
  async stop(): Promise<void> {
    await this.#proc?.stop('SIGINT');
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
