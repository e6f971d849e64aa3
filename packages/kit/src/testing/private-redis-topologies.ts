// Test support: the Redis topologies users scale onto, on loopback: a Redis Cluster of three
// primaries, and a primary with a replica watched by a Sentinel. Each node is a PrivateRedis
// (the Debian redis-server, no persistence, a directory of its own).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { waitFor } from '../mail-queue/mail-queue.contract.ts';
import { freePort, stopChild, tcpUp } from './private-nats.ts';
import { PrivateRedis } from './private-redis.ts';

const run = promisify(execFile);
const REDIS_CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';

/** Three cluster-enabled primaries (no replicas), their 16384 slots assigned by `redis-cli --cluster create`. */
export class PrivateRedisCluster {
  readonly nodes = [0, 1, 2].map(
    () => new PrivateRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] }),
  );

  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`, REDIS_URL's cluster form. */
  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  async start(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
    const addresses = this.nodes.map((n) => `127.0.0.1:${n.port}`);
    await run(REDIS_CLI, ['--cluster', 'create', ...addresses, '--cluster-yes'], { timeout: 30_000 });
    // Every node must agree before a client's first command lands (else CLUSTERDOWN).
    await waitFor(
      'the cluster to be ok on every node',
      async () => {
        const states = await Promise.all(
          this.nodes.map(async (n) => {
            const client = new Redis({ port: n.port, lazyConnect: true, maxRetriesPerRequest: 0 });
            try {
              return /cluster_state:ok/.test(await client.cluster('INFO'));
            } finally {
              client.disconnect();
            }
          }),
        );
        return states.every(Boolean);
      },
      30_000,
    );
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy()));
  }
}

/** A primary, its replica, and one Sentinel (quorum 1) that fails over between them. */
export class PrivateRedisSentinel {
  readonly name = 'gatehouse';
  readonly primary = new PrivateRedis();
  replica: PrivateRedis | undefined;
  sentinelPort = 0;
  #sentinel: ChildProcess | undefined;
  #output = '';

  /** `redis+sentinel://127.0.0.1:<sentinel>/gatehouse`, REDIS_URL's Sentinel form. */
  get url(): string {
    return `redis+sentinel://127.0.0.1:${this.sentinelPort}/${this.name}`;
  }

  async start(): Promise<void> {
    await this.primary.start();
    this.replica = new PrivateRedis({ args: ['--replicaof', '127.0.0.1', String(this.primary.port)] });
    await this.replica.start();
    this.sentinelPort = await freePort();
    const config = join(this.primary.dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${this.sentinelPort}`,
        'bind 127.0.0.1',
        `sentinel monitor ${this.name} 127.0.0.1 ${this.primary.port} 1`,
        `sentinel down-after-milliseconds ${this.name} 1000`,
        `sentinel failover-timeout ${this.name} 10000`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.env.REDIS_SERVER_BIN ?? 'redis-server', [config, '--sentinel'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#sentinel = child;
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-4_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    await waitFor(
      'the sentinel to listen and know the replica',
      async () => {
        if (child.exitCode !== null) throw new Error(`sentinel exited (${child.exitCode}): ${this.#output.trim()}`);
        if (!(await tcpUp(this.sentinelPort))) return false;
        return (await this.#sentinelCall('SENTINEL', 'REPLICAS', this.name)).length > 0;
      },
      30_000,
    );
  }

  /** The port of the primary the Sentinel names now. */
  async primaryPort(): Promise<number> {
    const [, port] = await this.#sentinelCall('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name);
    return Number(port);
  }

  /** Makes the replica the primary (SENTINEL FAILOVER) and waits until the Sentinel names it. */
  async failover(): Promise<void> {
    const before = await this.primaryPort();
    await this.#sentinelCall('SENTINEL', 'FAILOVER', this.name);
    await waitFor('the sentinel to name the new primary', async () => (await this.primaryPort()) !== before, 30_000);
  }

  async #sentinelCall(...args: string[]): Promise<string[]> {
    const client = new Redis({ port: this.sentinelPort, lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      return (await client.call(args[0] as string, ...args.slice(1))) as string[];
    } finally {
      client.disconnect();
    }
  }

  async destroy(): Promise<void> {
    await stopChild(this.#sentinel);
    await Promise.all([this.primary.destroy(), this.replica?.destroy()]);
  }
}
