import {
  connect,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import type { Headers, Transport } from './transport.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toNats(headers: Headers): MsgHdrs | undefined {
  const entries = Object.entries(headers);
  if (entries.length === 0) return undefined;
  const h = natsHeaders();
  for (const [k, v] of entries) h.set(k, v);
  return h;
}

function fromNats(h: MsgHdrs | undefined): Headers {
  const out: Headers = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

/**
 * The stack's transport: NATS request/reply in queue groups, plain publish for
 * events. It reconnects forever; while disconnected, requests fail with
 * `service_unavailable` after their timeout instead of hanging.
 */
export class NatsTransport implements Transport {
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #reconnectListeners: (() => void)[] = [];
  readonly #subs: Subscription[] = [];

  private constructor(nc: NatsConnection, log: Logger) {
    this.#nc = nc;
    this.#log = log;
    void this.#watch();
  }

  /**
   * The underlying connection, for a client that shares it (the JetStream mail
   * queue). Read-only: closing it is this transport's job.
   */
  get connection(): NatsConnection {
    return this.#nc;
  }

  /** Connects to `servers` (comma separated), waiting for the first connection as long as it takes. */
  static async connect(servers: string, name: string, log: Logger): Promise<NatsTransport> {
    const nc = await connect({
      servers: servers.split(',').map((s) => s.trim()),
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      waitOnFirstConnect: true,
      pingInterval: 10_000,
      // nats.js otherwise builds an Error (a stack trace) for every request in case
      // it fails; a failed request becomes a service_unavailable AppError here anyway.
      noAsyncTraces: true,
    });
    return new NatsTransport(nc, log);
  }

  async #watch(): Promise<void> {
    for await (const status of this.#nc.status()) {
      if (status.type === 'disconnect') this.#log.warn('nats disconnected');
      if (status.type === 'reconnect') {
        this.#log.info('nats reconnected');
        for (const listener of this.#reconnectListeners) listener();
      }
    }
  }

  async request(subject: string, body: string, options: { timeoutMs: number; headers: Headers }): Promise<string> {
    try {
      const hdrs = toNats(options.headers);
      const msg = await this.#nc.request(subject, encoder.encode(body), {
        timeout: options.timeoutMs,
        ...(hdrs ? { headers: hdrs } : {}),
      });
      return decoder.decode(msg.data);
    } catch (err) {
      throw new AppError('service_unavailable', `${subject} did not answer`, { cause: err, retryAfter: 2 });
    }
  }

  serve(subject: string, queue: string, handler: (body: string, headers: Headers) => Promise<string>): void {
    const sub = this.#nc.subscribe(subject, {
      queue,
      callback: (err, msg) => {
        if (err) {
          this.#log.error({ err, subject }, 'subscription error');
          return;
        }
        handler(decoder.decode(msg.data), fromNats(msg.headers)).then(
          (reply) => msg.respond(encoder.encode(reply)),
          (error) => this.#log.error({ err: error, subject }, 'handler failed without a reply'),
        );
      },
    });
    this.#subs.push(sub);
  }

  async publish(subject: string, body: string, headers: Headers): Promise<void> {
    const hdrs = toNats(headers);
    try {
      this.#nc.publish(subject, encoder.encode(body), hdrs ? { headers: hdrs } : undefined);
      // Flush so the event is at the server before the caller answers its own client:
      // that is what makes revocation visible on every gateway "from the moment the call returns".
      await this.#nc.flush();
    } catch (err) {
      throw new AppError('service_unavailable', 'the message bus is unavailable', { cause: err, retryAfter: 2 });
    }
  }

  subscribe(subject: string, handler: (body: string, headers: Headers) => void, queue?: string): void {
    const sub = this.#nc.subscribe(subject, {
      ...(queue ? { queue } : {}),
      callback: (err, msg) => {
        if (err) {
          this.#log.error({ err, subject }, 'subscription error');
          return;
        }
        handler(decoder.decode(msg.data), fromNats(msg.headers));
      },
    });
    this.#subs.push(sub);
  }

  onReconnect(listener: () => void): void {
    this.#reconnectListeners.push(listener);
  }

  async ping(): Promise<void> {
    if (this.#nc.isClosed()) throw new AppError('service_unavailable', 'nats closed', { retryAfter: 2 });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#nc.flush(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('nats ping timed out')), 1000);
        }),
      ]);
    } catch (err) {
      throw new AppError('service_unavailable', 'nats is unavailable', { cause: err, retryAfter: 2 });
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (!this.#nc.isClosed()) await this.#nc.drain();
  }
}
