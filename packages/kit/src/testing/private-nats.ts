// Test support: a private nats-server (the Debian binary) on a free port, for tests that
// must stop it, or that must not share subjects with a Gatehouse running on the machine's NATS.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../mail-queue/mail-queue.contract.ts';

const NATS_BIN = process.env.NATS_SERVER_BIN ?? 'nats-server';

export interface PrivateNatsOptions {
  /** A server configuration file (`-c`); the flags below (address, port, store, monitoring port) win over it. */
  config?: string;
  /** Environment for the server, e.g. the variables the configuration file refers to. */
  env?: Record<string, string>;
}

/** A private nats-server with JetStream, on its own port and store, that a test may stop and restart. */
export class PrivateNats {
  readonly dir = mkdtempSync(join(tmpdir(), 'gatehouse-mailq-'));
  port = 0;
  #child: ChildProcess | undefined;
  readonly #options: PrivateNatsOptions;
  #monitorPort = 0;
  #stderr = '';

  constructor(options: PrivateNatsOptions = {}) {
    this.#options = options;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const args = ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.dir];
    if (this.#options.config) {
      // A configuration may turn monitoring on at a fixed port (the shipped one does): move it to a free one.
      if (!this.#monitorPort) this.#monitorPort = await freePort();
      args.push('-c', this.#options.config, '-m', String(this.#monitorPort));
    }
    const child = spawn(NATS_BIN, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...this.#options.env },
    });
    this.#child = child;
    this.#stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4_000);
    });
    await waitFor(
      'nats-server to listen',
      () => {
        if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}): ${this.#stderr.trim()}`);
        return tcpUp(this.port);
      },
      10_000,
    );
  }

  async stop(): Promise<void> {
    await stopChild(this.#child);
  }

  /** Loses the store, as a server restarted on an empty volume does. */
  wipe(): void {
    rmSync(join(this.dir, 'jetstream'), { recursive: true, force: true });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Stops a server the test started: SIGTERM, SIGKILL after 5 s; resolves once it has exited. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function tcpUp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    }).on('error', () => resolve(false));
  });
}
