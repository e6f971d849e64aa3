import { MailJob } from '@gatehouse/contracts';
import {
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, headers as natsHeaders, RequestError } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { type NatsSecurity, natsConnectionOptions } from '../bus/nats-options.ts';
import { AppError, unavailable } from '../errors.ts';
import { validate } from '../validation.ts';
import { DEFAULT_NAMES, ensureConsumer, ensureStreams, type MailQueueNames } from './jetstream.setup.ts';
import {
  errorMessage,
  type MailDeadLetter,
  type MailRetryOptions,
  PermanentMailError,
  retryDelayMs,
  retryPolicy,
} from './policy.ts';
import type { MailDelivery, MailQueue } from './queue.ts';

export type { MailQueueNames } from './jetstream.setup.ts';

export interface JetStreamMailQueueOptions extends MailRetryOptions {
  log: Logger;
  /** A connection to share (a service's bus connection); the queue never closes it. */
  connection?: NatsConnection;
  /** Or servers to connect to (comma separated); the queue owns and closes that connection. */
  servers?: string;
  /** With `servers`: credentials and TLS for that connection (see natsConnectionOptions). */
  security?: NatsSecurity;
  /** With `servers`: the connection's name and inbox prefix `_INBOX.<name>` (default `mail-queue`). */
  name?: string;
  /**
   * Whether this client creates and updates the streams (default true). A producer whose NATS
   * user may only publish jobs (identity) passes false: it then only checks that the job stream
   * exists, and waits (`service_unavailable`) until the consumer's side has created it.
   */
  manageStreams?: boolean;
  /** Stream, subject and consumer names; the contract's by default. */
  names?: Partial<MailQueueNames>;
  /** How long a delivery may go without an ack before the server redelivers it (default 60 s). */
  ackWaitMs?: number;
  /** Bound on a PubAck or a JetStream API answer (default 3 s): past it, `service_unavailable`. */
  timeoutMs?: number;
  /** A job id published again within this window is stored once (default 1 h). */
  duplicateWindowMs?: number;
  /** Copies of each stream a NATS cluster keeps (JETSTREAM_REPLICAS; default 1, a single server). */
  replicas?: number;
}

type Handler = (job: MailJob, delivery: MailDelivery) => Promise<void>;

interface ConsumerState {
  stopping: boolean;
  messages: ConsumerMessages | undefined;
  wake: (() => void) | undefined;
}

const queueUnavailable = (cause?: unknown): AppError => unavailable('the mail queue', cause);

/**
 * The stack's mail queue on NATS JetStream: jobs in the `MAIL` work-queue
 * stream, delivered to the durable pull consumer `mailer` one at a time per
 * consumer, retried with `nak(delay)` and dead-lettered to `mail.dead`
 * (stream `MAIL_DEAD`) after the last attempt. Delivery is at least once: a
 * process killed between sending and acking sends that mail again.
 */
export class JetStreamMailQueue implements MailQueue {
  readonly #nc: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #log: Logger;
  readonly #names: MailQueueNames;
  readonly #maxAttempts: number;
  readonly #backoffMs: number[];
  readonly #ackWaitMs: number;
  readonly #timeoutMs: number;
  readonly #duplicateWindowMs: number;
  readonly #replicas: number;
  readonly #manageStreams: boolean;
  readonly #consumers = new Map<ConsumerState, Promise<void>>();
  #connected = true;
  #statusIterator: { stop(): void } | undefined;

  private constructor(
    nc: NatsConnection,
    ownsConnection: boolean,
    jsm: JetStreamManager,
    options: JetStreamMailQueueOptions,
  ) {
    const policy = retryPolicy(options);
    this.#nc = nc;
    this.#ownsConnection = ownsConnection;
    this.#jsm = jsm;
    this.#js = jsm.jetstream();
    this.#log = options.log;
    this.#names = { ...DEFAULT_NAMES, ...options.names };
    this.#maxAttempts = policy.maxAttempts;
    this.#backoffMs = policy.backoffMs;
    this.#ackWaitMs = options.ackWaitMs ?? 60_000;
    this.#timeoutMs = options.timeoutMs ?? 3_000;
    this.#duplicateWindowMs = options.duplicateWindowMs ?? 3_600_000;
    this.#replicas = options.replicas ?? 1;
    this.#manageStreams = options.manageStreams ?? true;
    void this.#watchConnection();
  }

  /**
   * Connects (unless given a connection), then creates or updates the job and
   * dead-letter streams (with `manageStreams: false`, only checks that the job
   * stream exists). Throws `service_unavailable` when JetStream does not answer.
   * The consumer is created by `consume()`, so producers never touch it.
   */
  static async open(options: JetStreamMailQueueOptions): Promise<JetStreamMailQueue> {
    let nc = options.connection;
    const owns = !nc;
    if (!nc) {
      if (!options.servers) throw new Error('JetStreamMailQueue needs a connection or servers');
      nc = await connect({
        ...natsConnectionOptions(options.servers, options.name ?? 'mail-queue', options.security),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        waitOnFirstConnect: true,
        pingInterval: 10_000,
      });
    }
    const timeout = options.timeoutMs ?? 3_000;
    try {
      const jsm = await jetstreamManager(nc, { timeout, checkAPI: false });
      const queue = new JetStreamMailQueue(nc, owns, jsm, options);
      await queue.#ensureStreams();
      return queue;
    } catch (err) {
      if (owns) await nc.close();
      throw err instanceof AppError ? err : queueUnavailable(err);
    }
  }

  /**
   * Publishes on `<prefix>.<template>` with `Nats-Msg-Id` = job id and waits for
   * the PubAck. Throws `validation_failed` for a malformed job and
   * `service_unavailable` at once while disconnected, or after `timeoutMs`.
   */
  async enqueue(job: MailJob, options: { requestId?: string } = {}): Promise<void> {
    const valid = validate(MailJob, job, 'mail job');
    if (!this.#connected || this.#nc.isClosed()) throw queueUnavailable();
    const headers = natsHeaders();
    headers.set('x-request-id', options.requestId ?? valid.id);
    const publish = () =>
      this.#js.publish(`${this.#names.subjectPrefix}.${valid.template}`, JSON.stringify(valid), {
        msgID: valid.id,
        headers,
        timeout: this.#timeoutMs,
      });
    try {
      await publish();
    } catch (err) {
      // No responders: the server is up but lost the stream (a fresh store); recreate it once
      // (or, when the consumer's side owns the streams, wait for it to).
      if (!(err instanceof Error && err.cause instanceof RequestError && err.cause.isNoResponders()))
        throw queueUnavailable(err);
      if (!this.#manageStreams) throw queueUnavailable(err);
      try {
        await this.#ensureStreams();
        await publish();
      } catch (again) {
        throw queueUnavailable(again);
      }
    }
  }

  /**
   * Ensures the durable consumer, then hands every job to `handler`, one at a
   * time. Survives NATS restarts (the client re-pulls; a lost stream or
   * consumer is recreated). `stop()` lets the job in hand finish and hands a
   * job fetched but not yet started back to the server at once.
   */
  async consume(handler: Handler): Promise<{ stop(): Promise<void> }> {
    try {
      await this.#ensureConsumer();
    } catch (err) {
      throw err instanceof AppError ? err : queueUnavailable(err);
    }
    const state: ConsumerState = { stopping: false, messages: undefined, wake: undefined };
    this.#consumers.set(state, this.#run(state, handler));
    return { stop: () => this.#stop(state) };
  }

  /** Resolves when connected and the job stream answers; `service_unavailable` otherwise. */
  async ping(): Promise<void> {
    if (!this.#connected || this.#nc.isClosed()) throw queueUnavailable();
    try {
      await this.#jsm.streams.info(this.#names.stream);
    } catch (err) {
      throw queueUnavailable(err);
    }
  }

  /** The job stream's messages: a work queue keeps a job until it is acked (sent or dead-lettered). */
  async depth(): Promise<number> {
    try {
      return (await this.#jsm.streams.info(this.#names.stream)).state.messages;
    } catch (err) {
      throw queueUnavailable(err);
    }
  }

  /** Stops every consumer, then closes the connection if the queue opened it. */
  async close(): Promise<void> {
    await Promise.all([...this.#consumers.keys()].map((s) => this.#stop(s)));
    this.#statusIterator?.stop();
    if (!this.#ownsConnection || this.#nc.isClosed()) return;
    try {
      await this.#nc.drain(); // flushes the last acks
    } catch {
      await this.#nc.close(); // drain refuses while disconnected
    }
  }

  /** Reads up to `limit` dead letters, oldest first (operations and tests). */
  async listDeadLetters(limit = 1000): Promise<MailDeadLetter[]> {
    const stream = this.#names.deadLetterStream;
    const { state } = await this.#jsm.streams.info(stream);
    const out: MailDeadLetter[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && out.length < limit && state.messages > 0; seq++) {
      const msg = await this.#jsm.streams.getMessage(stream, { seq });
      if (!msg) continue;
      let job: MailJob;
      try {
        job = validate(MailJob, msg.json(), 'dead letter');
      } catch {
        continue; // a poison message kept for inspection, not a job
      }
      out.push({
        job,
        error: msg.header.get('x-mail-error'),
        attempts: Number(msg.header.get('x-mail-attempts')),
        requestId: msg.header.get('x-request-id'),
        at: msg.time.toISOString(),
      });
    }
    return out;
  }

  async #ensureStreams(): Promise<void> {
    if (!this.#manageStreams) {
      await this.#jsm.streams.info(this.#names.stream); // throws (stream not found) until it exists
      return;
    }
    await ensureStreams(this.#jsm, this.#names, {
      duplicateWindowMs: this.#duplicateWindowMs,
      replicas: this.#replicas,
      log: this.#log,
    });
  }

  /**
   * `max_deliver` is one more than the attempts: the spare delivery only dead-letters a job whose
   * last attempt never reported back (a crash, or a failed dead-letter publish), so no job can be
   * stranded in the stream once the server stops redelivering it.
   */
  async #ensureConsumer(): Promise<void> {
    await ensureConsumer(this.#jsm, this.#names, { maxDeliver: this.#maxAttempts + 1, ackWaitMs: this.#ackWaitMs });
  }

  async #watchConnection(): Promise<void> {
    const status = this.#nc.status();
    // nats.js hands out a QueuedIterator; stopping it detaches the queue from a shared connection.
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
        // After a failure the stream or consumer may be what is missing (a server restarted without its store).
        if (failed) {
          await this.#ensureStreams();
          await this.#ensureConsumer();
          failed = false;
        }
        const consumer = await this.#js.consumers.get(this.#names.stream, this.#names.consumer);
        // One message per pull: at most one job waits in this client's buffer (fetched
        // while the previous one is handled), hidden from other mailers and with its
        // ack_wait running; stop() hands it back.
        const messages = await consumer.consume({ max_messages: 1, expires: 30_000 });
        state.messages = messages;
        if (state.stopping) messages.stop();
        void this.#recreateWhenLost(messages);
        for await (const msg of messages) {
          // Fetched after stop() was called: hand it back for the next consumer at once.
          if (state.stopping) msg.nak();
          else await this.#deliver(msg, handler);
        }
      } catch (err) {
        failed = true;
        if (!state.stopping) this.#log.warn({ err }, 'mail consumer failed, resubscribing');
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

  /** A server restarted without its store lost the stream and consumer: recreate them, then resubscribe. */
  async #recreateWhenLost(messages: ConsumerMessages): Promise<void> {
    for await (const n of messages.status()) {
      if (n.type !== 'stream_not_found' && n.type !== 'consumer_not_found' && n.type !== 'consumer_deleted') continue;
      try {
        await this.#ensureStreams();
        await this.#ensureConsumer();
        this.#log.warn({ notice: n.type }, 'mail stream or consumer was missing and has been recreated');
        // Resubscribe now rather than after the client's own backoff (up to 30 s).
        messages.stop();
      } catch (err) {
        this.#log.warn({ err }, 'could not recreate the mail stream or consumer yet');
      }
    }
  }

  async #deliver(msg: JsMsg, handler: Handler): Promise<void> {
    const attempt = msg.info.deliveryCount;
    const requestId = msg.headers?.get('x-request-id') || `seq-${msg.seq}`;
    let log = this.#log.child({ reqId: requestId, seq: msg.seq, attempt });
    let job: MailJob;
    try {
      job = validate(MailJob, msg.json(), 'mail job');
    } catch (err) {
      // Nothing can ever handle it: keep it for inspection, don't retry.
      await this.#deadLetter(msg, err, attempt, requestId, log);
      return;
    }
    log = log.child({ jobId: job.id, template: job.template });
    if (attempt > this.#maxAttempts) {
      // The spare delivery of ensureConsumer's max_deliver: no outcome was recorded for the last attempt.
      await this.#deadLetter(msg, new Error('the last attempt ended without an outcome'), attempt - 1, requestId, log);
      return;
    }
    const last = attempt >= this.#maxAttempts;
    // Tells the server the job is still being worked on, so a slow SMTP server doesn't cause a redelivery.
    const beat = setInterval(() => msg.working(), Math.max(1_000, this.#ackWaitMs / 3));
    try {
      await handler(job, { attempt, last, requestId, log });
      msg.ack();
    } catch (err) {
      if (last || err instanceof PermanentMailError) {
        await this.#deadLetter(msg, err, attempt, requestId, log);
        return;
      }
      const delay = retryDelayMs(this.#backoffMs, attempt);
      log.warn({ err, retryInMs: delay }, 'mail job failed, will retry');
      msg.nak(delay);
    } finally {
      clearInterval(beat);
    }
  }

  /** Copies the job to the dead-letter subject, then terminates it; on failure the spare delivery retries. */
  async #deadLetter(msg: JsMsg, err: unknown, attempts: number, requestId: string, log: Logger): Promise<void> {
    const headers = natsHeaders();
    headers.set('x-request-id', requestId);
    headers.set('x-mail-error', errorMessage(err));
    headers.set('x-mail-attempts', String(attempts));
    headers.set('x-mail-subject', msg.subject);
    try {
      await this.#js.publish(this.#names.deadLetterSubject, msg.data, {
        msgID: msg.headers?.get('Nats-Msg-Id') || `seq-${msg.seq}`,
        headers,
        timeout: this.#timeoutMs,
      });
    } catch (publishErr) {
      // Not acked: the spare delivery tries again. If this was the spare, the job stays in
      // the job stream, where the server no longer delivers it: log enough to find it.
      log.error(
        { err: publishErr, stream: this.#names.stream, seq: msg.info.streamSequence, error: errorMessage(err) },
        'could not dead-letter a mail job',
      );
      msg.nak(retryDelayMs(this.#backoffMs, attempts));
      return;
    }
    msg.term();
    log.error({ err }, 'mail job dead-lettered');
  }
}
