// Test support: a private redis-server (the Debian binary) on a free port, bound to 127.0.0.1, with
// no persistence, for tests that need a Redis configured their own way (ACL users, TLS).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../mail-queue/mail-queue.contract.ts';
import { freePort, stopChild, tcpUp } from './private-nats.ts';

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';

export interface PrivateRedisOptions {
  /** The port (default: a free one), e.g. chosen first to write it into URLs. */
  port?: number;
  /** More arguments, e.g. `['--aclfile', file]` or `['--requirepass', pw]`. */
  args?: string[];
  /** Serve TLS only (no plain port) with this certificate; clients are not asked for one. */
  tls?: { cert: string; key: string; ca: string };
}

export class PrivateRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  port: number;
  readonly #options: PrivateRedisOptions;
  #child: ChildProcess | undefined;
  #output = '';

  constructor(options: PrivateRedisOptions = {}) {
    this.#options = options;
    this.port = options.port ?? 0;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const { tls, args = [] } = this.#options;
    const listen = tls
      ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key]
      : ['--port', String(this.port)];
    if (tls) listen.push('--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no');
    const child = spawn(
      REDIS_BIN,
      ['--bind', '127.0.0.1', ...listen, '--save', '', '--appendonly', 'no', '--dir', this.dir, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-4_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    await waitFor(
      'redis-server to listen',
      () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${this.#output.trim()}`);
        return tcpUp(this.port);
      },
      10_000,
    );
  }

  async destroy(): Promise<void> {
    await stopChild(this.#child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
