// The stack for a test, every service its own process: a private nats-server (JetStream) and
// redis-server on free ports of 127.0.0.1, a fresh database on the machine's Postgres, the
// services identity, session, mfa and mailer, and one gateway per port asked for.
import { PrivateNats, PrivateRedis } from '@gatehouse/kit/testing';
import { createDatabase, node, type Proc, secretKey, waitForOk } from './processes.ts';

const PG = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface StackOptions {
  /**
   * What every service is given (PUBLIC_URL, CORS_ORIGINS, limits, ...); the stack adds NATS_URL,
   * REDIS_URL, DATABASE_URL, SECRET_KEY and BUS_TIMEOUT_MS unless set here.
   */
  env: Record<string, string>;
  /** One gateway per entry, on `port` (127.0.0.1), each with `env` on top of the rest. */
  gateways: { name: string; port: number; env?: Record<string, string> }[];
}

/**
 * A stack that `start()` brings up and `stop()` takes down, whatever was started: call stop()
 * from the test's after() even when start() failed half-way.
 */
export class Stack {
  readonly procs: Proc[] = [];
  /** The environment the services were given. */
  env: Record<string, string> = {};
  #nats: PrivateNats | undefined;
  #redis: PrivateRedis | undefined;
  #db: { url: string; drop(): void } | undefined;

  constructor(readonly options: StackOptions) {}

  /** Resolves once every gateway answers /readyz (identity, session, mfa, mailer and Redis behind it). */
  async start(ms = 90_000): Promise<void> {
    this.#nats = new PrivateNats();
    this.#redis = new PrivateRedis();
    await Promise.all([this.#nats.start(), this.#redis.start()]);
    this.#db = createDatabase(PG);
    this.env = {
      NATS_URL: this.#nats.url,
      REDIS_URL: `redis://127.0.0.1:${this.#redis.port}`,
      DATABASE_URL: this.#db.url,
      SECRET_KEY: secretKey(),
      BUS_TIMEOUT_MS: '2000',
      ...this.options.env,
    };
    // All at once: identity waits for the mailer to create the JetStream streams.
    for (const name of ['identity', 'session', 'mfa', 'mailer']) {
      this.procs.push(node(name, `services/${name}/src/main.ts`, this.env));
    }
    for (const gateway of this.options.gateways) {
      this.procs.push(
        node(gateway.name, 'services/gateway/src/main.ts', {
          ...this.env,
          ...gateway.env,
          PORT: String(gateway.port),
        }),
      );
    }
    for (const gateway of this.options.gateways) {
      await waitForOk(`http://127.0.0.1:${gateway.port}/readyz`, this.procs, ms);
    }
  }

  /** The output of every process, for a failure message. */
  tail(): string {
    return this.procs.map((p) => p.tail()).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    await Promise.all([this.#nats?.destroy(), this.#redis?.destroy()]);
    this.#db?.drop();
  }
}
