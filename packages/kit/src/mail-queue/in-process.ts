import { MailJob } from '@gatehouse/contracts';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import { validate } from '../validation.ts';
import {
  errorMessage,
  type MailDeadLetter,
  type MailRetryOptions,
  PermanentMailError,
  retryDelayMs,
  retryPolicy,
} from './policy.ts';
import type { MailDelivery, MailQueue } from './queue.ts';

export interface InProcessMailQueueOptions extends MailRetryOptions {
  log: Logger;
  /** How long an id is remembered to drop a second enqueue of it (default 1 h, as JetStream's duplicate window). */
  dedupWindowMs?: number;
}

interface Entry {
  job: MailJob;
  requestId: string;
  /** Deliveries made so far. */
  deliveries: number;
}

/** A job waiting out its backoff; `timer` is armed only while a consumer runs. */
interface Delayed {
  entry: Entry;
  due: number;
  timer: NodeJS.Timeout | undefined;
}

interface Consumer {
  stopping: boolean;
}

type Handler = (job: MailJob, delivery: MailDelivery) => Promise<void>;

/**
 * The embedded mode's mail queue: jobs in memory, in this process. Same
 * contract as JetStream (dedup by id, retries with backoff, dead letters)
 * except durability: jobs still queued when the process stops are lost, and
 * `close()` logs how many.
 */
export class InProcessMailQueue implements MailQueue {
  /** Jobs given up on, oldest first (also logged at error level). */
  readonly deadLetters: MailDeadLetter[] = [];
  readonly #log: Logger;
  readonly #maxAttempts: number;
  readonly #backoffMs: number[];
  readonly #dedupWindowMs: number;
  readonly #ready: Entry[] = [];
  readonly #delayed = new Set<Delayed>();
  /** Job id → when it was enqueued, oldest first (a Map keeps insertion order). */
  readonly #seen = new Map<string, number>();
  readonly #consumers = new Map<Consumer, Promise<void>>();
  #wakers: (() => void)[] = [];
  /** Jobs in a handler's hands now. */
  #inFlight = 0;
  #closed = false;

  constructor(options: InProcessMailQueueOptions) {
    const policy = retryPolicy(options);
    this.#log = options.log;
    this.#maxAttempts = policy.maxAttempts;
    this.#backoffMs = policy.backoffMs;
    this.#dedupWindowMs = options.dedupWindowMs ?? 3_600_000;
  }

  /** Queues `job`; throws `validation_failed` for a malformed job, `service_unavailable` once closed. */
  async enqueue(job: MailJob, options: { requestId?: string } = {}): Promise<void> {
    if (this.#closed) throw new AppError('service_unavailable', 'the mail queue is closed', { retryAfter: 2 });
    const valid = validate(MailJob, job, 'mail job');
    const now = Date.now();
    for (const [id, at] of this.#seen) {
      if (now - at < this.#dedupWindowMs) break;
      this.#seen.delete(id);
    }
    if (this.#seen.has(valid.id)) return;
    this.#seen.set(valid.id, now);
    this.#ready.push({ job: structuredClone(valid), requestId: options.requestId ?? valid.id, deliveries: 0 });
    this.#wake();
  }

  async consume(handler: Handler): Promise<{ stop(): Promise<void> }> {
    if (this.#closed) throw new AppError('service_unavailable', 'the mail queue is closed', { retryAfter: 2 });
    const consumer: Consumer = { stopping: false };
    this.#consumers.set(consumer, this.#loop(consumer, handler));
    if (this.#consumers.size === 1) for (const d of this.#delayed) this.#arm(d);
    return { stop: () => this.#stop(consumer) };
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new AppError('service_unavailable', 'the mail queue is closed', { retryAfter: 2 });
  }

  async depth(): Promise<number> {
    return this.#ready.length + this.#delayed.size + this.#inFlight;
  }

  /** The dead letters, oldest first (same shape as JetStream's). */
  async listDeadLetters(): Promise<MailDeadLetter[]> {
    return [...this.deadLetters];
  }

  /** Stops every consumer (letting the job in hand finish) and clears every timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#consumers.keys()].map((c) => this.#stop(c)));
    for (const d of this.#delayed) clearTimeout(d.timer);
    const left = this.#ready.length + this.#delayed.size;
    if (left > 0)
      this.#log.warn({ jobs: left }, 'mail jobs not delivered: the in-process queue keeps them in memory only');
  }

  async #stop(consumer: Consumer): Promise<void> {
    const done = this.#consumers.get(consumer);
    if (!done) return;
    consumer.stopping = true;
    this.#wake();
    await done;
    this.#consumers.delete(consumer);
    // Nobody to deliver to: no timer may keep the process alive. The jobs stay
    // in #delayed with their due time and are re-armed by the next consume().
    if (this.#consumers.size === 0) {
      for (const d of this.#delayed) {
        clearTimeout(d.timer);
        d.timer = undefined;
      }
    }
  }

  async #loop(consumer: Consumer, handler: Handler): Promise<void> {
    while (!consumer.stopping) {
      const entry = this.#ready.shift();
      if (entry) {
        this.#inFlight++;
        try {
          await this.#deliver(entry, handler);
        } finally {
          this.#inFlight--;
        }
      } else await new Promise<void>((resolve) => this.#wakers.push(resolve));
    }
  }

  async #deliver(entry: Entry, handler: Handler): Promise<void> {
    entry.deliveries += 1;
    const attempt = entry.deliveries;
    const last = attempt >= this.#maxAttempts;
    const { job, requestId } = entry;
    const log = this.#log.child({ reqId: requestId, jobId: job.id, template: job.template, attempt });
    try {
      await handler(structuredClone(job), { attempt, last, requestId, log });
    } catch (err) {
      if (last || err instanceof PermanentMailError) {
        this.deadLetters.push({
          job,
          error: errorMessage(err),
          attempts: attempt,
          requestId,
          at: new Date().toISOString(),
        });
        log.error({ err }, 'mail job dead-lettered');
        return;
      }
      const delay = retryDelayMs(this.#backoffMs, attempt);
      log.warn({ err, retryInMs: delay }, 'mail job failed, will retry');
      const d: Delayed = { entry, due: Date.now() + delay, timer: undefined };
      this.#delayed.add(d);
      if (this.#consumers.size > 0 && !this.#closed) this.#arm(d);
    }
  }

  #arm(d: Delayed): void {
    clearTimeout(d.timer);
    d.timer = setTimeout(
      () => {
        this.#delayed.delete(d);
        this.#ready.push(d.entry);
        this.#wake();
      },
      Math.max(0, d.due - Date.now()),
    );
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }
}
