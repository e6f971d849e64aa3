import {
  connect,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import { type NatsSecurity, natsConnectionOptions } from './nats-options.ts';
import { type Headers, type Transport, Unanswered } from './transport.ts';

const encoder = new TextEncoder();
/** How long a graceful stop waits for the requests in hand (Shutdown gives up at 10 s). */
const DRAIN_BOUND_MS = 7_000;
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
  readonly #disconnectListeners: (() => void)[] = [];
  readonly #subs: Subscription[] = [];
  /** The queue-group subscriptions of `serve`: drained first at a graceful stop. */
  readonly #served: Subscription[] = [];
  /** Requests taken and not yet answered. */
  readonly #inFlight = new Set<Promise<void>>();
  #stopping: Promise<void> | undefined;
  readonly #closedListeners: ((err: Error) => void)[] = [];
  #closing = false;

  private constructor(nc: NatsConnection, log: Logger) {
    this.#nc = nc;
    this.#log = log;
    void this.#watch();
    void this.#watchClosed();
  }

  /**
   * Reconnection is forever, except when the server refuses the credentials
   * (twice in a row: a key revoked or rotated on the server): nats.js then
   * closes the connection for good. Say so loudly and tell the listeners
   * (connectNats stops the process, so its supervisor restarts it).
   */
  async #watchClosed(): Promise<void> {
    const err = await this.#nc.closed();
    if (this.#closing) return;
    const reason = err instanceof Error ? err : new Error('the NATS connection closed');
    this.#log.fatal({ err: reason }, 'nats connection closed for good');
    for (const listener of this.#closedListeners) listener(reason);
  }

  /** Called once if the connection closes for good without close() being called. */
  onClosed(listener: (err: Error) => void): void {
    this.#closedListeners.push(listener);
  }

  /**
   * The underlying connection, for a client that shares it (the JetStream mail
   * queue). Read-only: closing it is this transport's job.
   */
  get connection(): NatsConnection {
    return this.#nc;
  }

  /**
   * Connects to `servers` (comma separated NATS_URL), waiting for the first
   * connection as long as it takes, as `name` (the service: its inbox prefix is
   * `_INBOX.<name>`), authenticated and over TLS as `security` and the URLs say
   * (see natsConnectionOptions). A server that refuses the credentials ends
   * the attempt with an error rather than a retry loop.
   */
  static async connect(
    servers: string,
    name: string,
    log: Logger,
    security: NatsSecurity = {},
  ): Promise<NatsTransport> {
    const nc = await connect({
      ...natsConnectionOptions(servers, name, security),
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
      if (status.type === 'disconnect') {
        this.#log.warn('nats disconnected');
        for (const listener of this.#disconnectListeners) listener();
      }
      // A permissions violation (a subject this service's NATS user may not use) or an
      // authorization error: otherwise only a timeout would tell.
      if (status.type === 'error') this.#log.error({ err: status.error }, 'nats error');
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
      // Timed out: taken by a replica that did not answer. Other failures (nobody serves the
      // subject, the connection is down) are no better a moment later.
      if ((err as Error).name === 'TimeoutError') throw new Unanswered(subject, err);
      throw new AppError('service_unavailable', `${subject} could not be sent`, { cause: err, retryAfter: 2 });
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
        const answered: Promise<void> = handler(decoder.decode(msg.data), fromNats(msg.headers)).then(
          (reply) => {
            msg.respond(encoder.encode(reply));
          },
          (error) => this.#log.error({ err: error, subject }, 'handler failed without a reply'),
        );
        this.#inFlight.add(answered);
        void answered.finally(() => this.#inFlight.delete(answered));
      },
    });
    this.#subs.push(sub);
    this.#served.push(sub);
  }

  stopServing(): Promise<void> {
    // Once: the shutdown's first step, and again (a no-op) from close().
    this.#stopping ??= this.#stopServing();
    return this.#stopping;
  }

  async #stopServing(): Promise<void> {
    if (this.#nc.isClosed()) return;
    // Unsubscribed at the server (no new request comes here), and the ones already
    // delivered to this client handed to their handlers.
    await Promise.all(
      this.#served.map((sub) =>
        sub.drain().catch((err) => this.#log.warn({ err, subject: sub.getSubject() }, 'could not drain')),
      ),
    );
    const left = this.#inFlight.size;
    if (left > 0) this.#log.info({ requests: left }, 'finishing the requests in hand');
    // Bounded: a handler that hangs (a dependency that never answers) must not hold the stop;
    // its caller times out as it would have anyway.
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#log.warn({ requests: this.#inFlight.size }, 'requests still in hand at the drain bound: left');
        resolve();
      }, DRAIN_BOUND_MS);
    });
    await Promise.race([Promise.all([...this.#inFlight]), bound]);
    clearTimeout(timer);
    // Their replies are at the server before the connection may close.
    await this.#nc.flush().catch(() => {});
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

  onDisconnect(listener: () => void): void {
    this.#disconnectListeners.push(listener);
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
    this.#closing = true;
    if (this.#nc.isClosed()) return;
    await this.stopServing();
    await this.#nc.drain();
  }
}
