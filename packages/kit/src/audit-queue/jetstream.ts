import { type AuditEvent, auditQueue } from '@gatehouse/contracts';
import {
  type ConsumerMessages,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { type NatsSecurity, natsConnectionOptions } from '../bus/nats-options.ts';
import { AppError, unavailable } from '../errors.ts';
import { ensureConsumer, ensureStream } from '../mail-queue/jetstream.setup.ts';
import { retryDelayMs } from '../mail-queue/policy.ts';
import { validAuditEvent } from './event.ts';
import { type AuditBatch, type AuditBatchOptions, type AuditQueue, batchPolicy } from './queue.ts';

/** Where the events live. Tests override every name so they never touch a running stack's `AUDIT`. */
export interface AuditQueueNames {
  stream: string;
  /** Events go to `<subjectPrefix>.<type>`; the stream takes `<subjectPrefix>.>`. */
  subjectPrefix: string;
  consumer: string;
}

export const DEFAULT_AUDIT_NAMES: AuditQueueNames = {
  stream: auditQueue.stream,
  subjectPrefix: auditQueue.subjectPrefix,
  consumer: auditQueue.consumer,
};

export interface JetStreamAuditQueueOptions extends AuditBatchOptions {
  log: Logger;
  /** A connection to share (a service's bus connection); the queue never closes it. */
  connection?: NatsConnection;
  /** Or servers to connect to (comma separated); the queue owns and closes that connection. */
  servers?: string;
  /** With `servers`: credentials and TLS for that connection (see natsConnectionOptions). */
  security?: NatsSecurity;
  /** With `servers`: the connection's name and inbox prefix `_INBOX.<name>` (default `audit-queue`). */
  name?: string;
  /**
   * Whether this client creates and updates the stream (default true: the writer, identity). A
   * producer whose NATS user may only publish events (the gateway, the session service) passes
   * false: `open` then does no I/O, and an event published before the writer has created the
   * stream is kept and published again until it has.
   */
  manageStreams?: boolean;
  /** Stream, subject and consumer names; the contract's by default. */
  names?: Partial<AuditQueueNames>;
  /** How long a delivery may go without an ack before the server redelivers it (default 60 s). */
  ackWaitMs?: number;
  /** Bound on a PubAck or a JetStream API answer (default 3 s). */
  timeoutMs?: number;
  /** An event id published again within this window is stored once (default 10 min). */
  duplicateWindowMs?: number;
  /** Copies of each stream a NATS cluster keeps (JETSTREAM_REPLICAS; default 1, a single server). */
  replicas?: number;
  /** Events whose publish failed, kept in memory to publish again (default 10 000); past it the oldest are dropped. */
  maxRetained?: number;
  /** How often the kept events are published again (default 1 s). */
  republishEveryMs?: number;
}

type Handler = (events: AuditEvent[], batch: AuditBatch) => Promise<void>;

interface ConsumerState {
  stopping: boolean;
  messages: ConsumerMessages | undefined;
  wake: (() => void) | undefined;
}

const DUE = Symbol('due');
const REPUBLISH_CHUNK = 256;

/**
 * The stack's audit queue on NATS JetStream: events in the `AUDIT` work-queue
 * stream (file storage, so a NATS restart keeps them), handed in batches to
 * the durable pull consumer `identity` that every identity replica shares.
 * A batch is acked only once its handler has written it; a failed one is
 * nak'd with a delay and comes back, without a last attempt, so nothing is
 * lost while identity or Postgres is down: the events wait in the stream.
 */
export class JetStreamAuditQueue implements AuditQueue {
  readonly #nc: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #log: Logger;
  readonly #names: AuditQueueNames;
  readonly #policy: Required<AuditBatchOptions>;
  readonly #ackWaitMs: number;
  readonly #timeoutMs: number;
  readonly #duplicateWindowMs: number;
  readonly #replicas: number;
  readonly #manageStreams: boolean;
  readonly #maxRetained: number;
  readonly #republishEveryMs: number;
  readonly #consumers = new Map<ConsumerState, Promise<void>>();
  readonly #inFlight = new Set<Promise<void>>();
  /** Events whose publish failed, oldest first, waiting to be published again. */
  #retained: AuditEvent[] = [];
  #republishTimer: NodeJS.Timeout | undefined;
  #republishing: Promise<void> | undefined;
  #outageLogged = false;
  #connected = true;
  #closed = false;
  #statusIterator: { stop(): void } | undefined;

  private constructor(
    nc: NatsConnection,
    ownsConnection: boolean,
    jsm: JetStreamManager,
    options: JetStreamAuditQueueOptions,
  ) {
    this.#nc = nc;
    this.#ownsConnection = ownsConnection;
    this.#jsm = jsm;
    this.#js = jsm.jetstream();
    this.#log = options.log;
    this.#names = { ...DEFAULT_AUDIT_NAMES, ...options.names };
    this.#policy = batchPolicy(options);
    this.#ackWaitMs = options.ackWaitMs ?? 60_000;
    this.#timeoutMs = options.timeoutMs ?? 3_000;
    this.#duplicateWindowMs = options.duplicateWindowMs ?? 600_000;
    this.#replicas = options.replicas ?? 1;
    this.#manageStreams = options.manageStreams ?? true;
    this.#maxRetained = options.maxRetained ?? 10_000;
    this.#republishEveryMs = options.republishEveryMs ?? 1_000;
    void this.#watchConnection();
  }

  /**
   * Connects (unless given a connection), then, unless `manageStreams` is
   * false, creates or updates the stream. Throws `service_unavailable` when
   * JetStream does not answer. The consumer is created by `consume()`.
   */
  static async open(options: JetStreamAuditQueueOptions): Promise<JetStreamAuditQueue> {
    let nc = options.connection;
    const owns = !nc;
    if (!nc) {
      if (!options.servers) throw new Error('JetStreamAuditQueue needs a connection or servers');
      nc = await connect({
        ...natsConnectionOptions(options.servers, options.name ?? 'audit-queue', options.security),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        waitOnFirstConnect: true,
        pingInterval: 10_000,
      });
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: options.timeoutMs ?? 3_000, checkAPI: false });
      const queue = new JetStreamAuditQueue(nc, owns, jsm, options);
      if (queue.#manageStreams) await queue.#ensureStream();
      return queue;
    } catch (err) {
      if (owns) await nc.close();
      throw err instanceof AppError ? err : unavailable('the audit queue', err);
    }
  }

  /**
   * Publishes on `<prefix>.<type>` with `Nats-Msg-Id` = the event's id, and
   * returns at once: the PubAck is awaited off the caller's path (a sign-in
   * never waits for it). An event JetStream did not take (NATS away, the
   * stream not made yet) is kept in memory and published again every
   * `republishEveryMs`; the same id makes a second copy harmless.
   */
  record(event: AuditEvent): void {
    let valid: AuditEvent;
    try {
      valid = validAuditEvent(event);
    } catch (err) {
      this.#log.error({ err, type: event?.type }, 'audit event dropped: malformed');
      return;
    }
    if (this.#closed) {
      this.#log.error({ type: valid.type, eventId: valid.id }, 'audit event dropped: the audit queue is closed');
      return;
    }
    if (!this.#connected || this.#nc.isClosed()) this.#retain([valid], undefined);
    else this.#publish(valid);
  }

  /** Resolves once every publish begun so far has settled (tests; close). */
  async flush(): Promise<void> {
    for (let round = 0; round < 100 && this.#inFlight.size > 0; round++) {
      await Promise.all([...this.#inFlight]);
    }
  }

  /** Events waiting to be published again (tests, operations). */
  get retained(): number {
    return this.#retained.length;
  }

  /**
   * Ensures the durable consumer, then hands the events to `handler` in
   * batches. Survives NATS restarts (the client re-pulls; a lost stream or
   * consumer is recreated). `stop()` lets the batch in hand finish and hands
   * events fetched but not yet in a batch back to the server at once.
   */
  async consume(handler: Handler): Promise<{ stop(): Promise<void> }> {
    try {
      await this.#ensureConsumer();
    } catch (err) {
      throw err instanceof AppError ? err : unavailable('the audit queue', err);
    }
    const state: ConsumerState = { stopping: false, messages: undefined, wake: undefined };
    this.#consumers.set(state, this.#run(state, handler));
    return { stop: () => this.#stop(state) };
  }

  /**
   * Stops every consumer, waits for the publishes in flight, tries the kept
   * events once more, logs any still not taken (they are lost), then closes
   * the connection if the queue opened it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#consumers.keys()].map((s) => this.#stop(s)));
    clearTimeout(this.#republishTimer);
    await this.#republishing;
    await this.flush();
    if (this.#retained.length > 0 && this.#connected && !this.#nc.isClosed()) await this.#republish();
    if (this.#retained.length > 0) {
      this.#log.error(
        { events: this.#retained.length },
        'audit events lost: JetStream did not take them before shutdown',
      );
    }
    this.#statusIterator?.stop();
    if (!this.#ownsConnection || this.#nc.isClosed()) return;
    try {
      await this.#nc.drain(); // flushes the last acks
    } catch {
      await this.#nc.close(); // drain refuses while disconnected
    }
  }

  #publish(event: AuditEvent): void {
    const done: Promise<void> = this.#js
      .publish(`${this.#names.subjectPrefix}.${event.type}`, JSON.stringify(event), {
        msgID: event.id,
        timeout: this.#timeoutMs,
      })
      .then(
        () => {
          this.#outageLogged = false;
        },
        (err) => this.#retain([event], err),
      )
      .finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
  }

  #retain(events: AuditEvent[], err: unknown): void {
    if (!this.#outageLogged) {
      this.#outageLogged = true;
      this.#log.warn({ err }, 'JetStream did not take an audit event: keeping it to publish again');
    }
    this.#retained.push(...events);
    const over = this.#retained.length - this.#maxRetained;
    if (over > 0) {
      const dropped = this.#retained.splice(0, over);
      this.#log.error(
        { events: dropped.length, types: [...new Set(dropped.map((e) => e.type))] },
        'audit events lost: too many waiting for JetStream',
      );
    }
    this.#armRepublish();
  }

  #armRepublish(): void {
    if (this.#closed || this.#republishTimer !== undefined) return;
    this.#republishTimer = setTimeout(() => {
      this.#republishTimer = undefined;
      this.#republishing = this.#republish().finally(() => {
        this.#republishing = undefined;
      });
    }, this.#republishEveryMs);
    // Kept events never hold the process open: close() makes their last attempt.
    this.#republishTimer.unref();
  }

  /** Publishes the kept events again, a chunk at a time; those refused again are kept again. */
  async #republish(): Promise<void> {
    if (!this.#connected || this.#nc.isClosed()) {
      this.#armRepublish();
      return;
    }
    const events = this.#retained;
    this.#retained = [];
    for (let i = 0; i < events.length; i += REPUBLISH_CHUNK) {
      for (const event of events.slice(i, i + REPUBLISH_CHUNK)) this.#publish(event);
      await this.flush();
    }
  }

  async #ensureStream(): Promise<void> {
    await ensureStream(
      this.#jsm,
      {
        name: this.#names.stream,
        subjects: [`${this.#names.subjectPrefix}.>`],
        // An event leaves the stream once written to Postgres: the stream holds what is not yet.
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        // A full stream refuses new events (kept and retried by the producer) rather than dropping unwritten ones.
        discard: DiscardPolicy.New,
        duplicate_window: nanos(this.#duplicateWindowMs),
        num_replicas: this.#replicas,
      },
      this.#log,
    );
  }

  /** No last delivery (`max_deliver` -1): an event stays until written; a malformed one is terminated. */
  async #ensureConsumer(): Promise<void> {
    await ensureConsumer(this.#jsm, this.#names, { maxDeliver: -1, ackWaitMs: this.#ackWaitMs });
  }

  async #watchConnection(): Promise<void> {
    const status = this.#nc.status();
    if ('stop' in status && typeof status.stop === 'function') this.#statusIterator = status as { stop(): void };
    for await (const s of status) {
      if (s.type === 'disconnect') this.#connected = false;
      if (s.type === 'reconnect') this.#connected = true;
    }
  }

  async #stop(state: ConsumerState): Promise<void> {
    const done = this.#consumers.get(state);
    if (!done) return;
    state.stopping = true;
    state.messages?.stop();
    state.wake?.();
    await done;
    this.#consumers.delete(state);
  }

  /** The consumer loop: (re)subscribes until stopped, pausing a second after an error. */
  async #run(state: ConsumerState, handler: Handler): Promise<void> {
    let failed = false;
    while (!state.stopping && !this.#nc.isClosed()) {
      try {
        if (failed) {
          await this.#ensureStream();
          await this.#ensureConsumer();
          failed = false;
        }
        const consumer = await this.#js.consumers.get(this.#names.stream, this.#names.consumer);
        // Up to a batch waits in this client's buffer while the previous batch is written.
        const messages = await consumer.consume({ max_messages: this.#policy.batchSize, expires: 30_000 });
        state.messages = messages;
        if (state.stopping) messages.stop();
        void this.#recreateWhenLost(messages);
        await this.#batches(state, messages, handler);
      } catch (err) {
        failed = true;
        if (!state.stopping) this.#log.warn({ err }, 'audit consumer failed, resubscribing');
      }
      if (state.stopping || this.#nc.isClosed()) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        state.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      state.wake = undefined;
    }
  }

  /**
   * Gathers batches from `messages` until it ends: a batch is handed over when
   * full, or `batchWaitMs` after its first message arrived.
   */
  async #batches(state: ConsumerState, messages: ConsumerMessages, handler: Handler): Promise<void> {
    const it = messages[Symbol.asyncIterator]();
    let next: Promise<IteratorResult<JsMsg>> | undefined;
    for (;;) {
      const batch: JsMsg[] = [];
      let due: number | undefined;
      let ended = false;
      while (batch.length < this.#policy.batchSize) {
        next ??= it.next();
        const got = due === undefined ? await next : await untilDue(next, due - Date.now());
        if (got === DUE) break;
        next = undefined;
        if (got.done) {
          ended = true;
          break;
        }
        batch.push(got.value);
        due ??= Date.now() + this.#policy.batchWaitMs;
      }
      if (state.stopping) {
        // Fetched but not in hand yet: back to the server for the next consumer, at once.
        for (const msg of batch) msg.nak();
      } else if (batch.length > 0) {
        await this.#deliver(batch, handler);
      }
      if (ended) return;
    }
  }

  /** A server restarted without its store lost the stream and consumer: recreate them, then resubscribe. */
  async #recreateWhenLost(messages: ConsumerMessages): Promise<void> {
    for await (const n of messages.status()) {
      if (n.type !== 'stream_not_found' && n.type !== 'consumer_not_found' && n.type !== 'consumer_deleted') continue;
      try {
        await this.#ensureStream();
        await this.#ensureConsumer();
        this.#log.warn({ notice: n.type }, 'audit stream or consumer was missing and has been recreated');
        messages.stop();
      } catch (err) {
        this.#log.warn({ err }, 'could not recreate the audit stream or consumer yet');
      }
    }
  }

  async #deliver(batch: JsMsg[], handler: Handler): Promise<void> {
    const events = new Map<string, AuditEvent>();
    const good: JsMsg[] = [];
    for (const msg of batch) {
      try {
        const event = validAuditEvent(msg.json());
        // A second copy of an event in one batch (a republish, a redelivery racing a nak) is acked with it.
        if (!events.has(event.id)) events.set(event.id, event);
        good.push(msg);
      } catch (err) {
        // Nothing can ever write it: drop it rather than hand it over for ever.
        this.#log.error({ err, subject: msg.subject, seq: msg.seq }, 'malformed audit event dropped');
        msg.term();
      }
    }
    if (good.length === 0) return;
    const attempt = Math.max(...good.map((m) => m.info.deliveryCount));
    const log = this.#log.child({ events: events.size, attempt });
    // Tells the server the batch is still being written, so a slow database doesn't cause a redelivery.
    const beat = setInterval(
      () => {
        for (const msg of good) msg.working();
      },
      Math.max(1_000, this.#ackWaitMs / 3),
    );
    beat.unref();
    let written = false;
    let failure: unknown;
    try {
      await handler([...events.values()], { attempt, log });
      written = true;
    } catch (err) {
      failure = err;
    } finally {
      clearInterval(beat);
    }
    try {
      // Only now: an event is acked (and leaves the stream) once written.
      if (written) for (const msg of good) msg.ack();
      else {
        const delay = retryDelayMs(this.#policy.retryDelaysMs, attempt);
        log.warn({ err: failure, retryInMs: delay }, 'audit batch not written, will retry');
        for (const msg of good) msg.nak(delay);
      }
    } catch (err) {
      // The connection is gone: the server hands the batch over again after ack_wait.
      log.warn({ err }, 'could not settle an audit batch: it comes back after ack_wait');
    }
  }
}

/** `next`'s result, or DUE once `ms` have passed first. */
async function untilDue<T>(next: Promise<T>, ms: number): Promise<T | typeof DUE> {
  if (ms <= 0) return DUE;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      next,
      new Promise<typeof DUE>((resolve) => (timer = setTimeout(() => resolve(DUE), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
