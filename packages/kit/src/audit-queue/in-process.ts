import type { AuditEvent } from '@gatehouse/contracts';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import { retryDelayMs } from '../mail-queue/policy.ts';
import { validAuditEvent } from './event.ts';
import { type AuditBatch, type AuditBatchOptions, type AuditQueue, batchPolicy } from './queue.ts';

export interface InProcessAuditQueueOptions extends AuditBatchOptions {
  log: Logger;
}

interface Entry {
  event: AuditEvent;
  /** Deliveries made so far. */
  deliveries: number;
  /** When it (last) became ready: its batch is due `batchWaitMs` after the oldest ready entry. */
  readyAt: number;
}

/** A failed batch waiting out its delay; `timer` is armed only while a consumer runs. */
interface Delayed {
  entries: Entry[];
  due: number;
  timer: NodeJS.Timeout | undefined;
}

interface Consumer {
  stopping: boolean;
}

type Handler = (events: AuditEvent[], batch: AuditBatch) => Promise<void>;

const closedError = () => new AppError('service_unavailable', 'the audit queue is closed', { retryAfter: 2 });

/**
 * The embedded mode's audit queue: events in memory, in this process, handed
 * to the consumer (identity's writer) in batches. Same contract as JetStream
 * except durability: `close()` first hands what is left to the running
 * consumers, and logs what it could not.
 */
export class InProcessAuditQueue implements AuditQueue {
  readonly #log: Logger;
  readonly #policy: Required<AuditBatchOptions>;
  readonly #ready: Entry[] = [];
  readonly #delayed = new Set<Delayed>();
  readonly #consumers = new Map<Consumer, Promise<void>>();
  #inHand = 0;
  readonly #wakers = new Set<() => void>();
  #closed = false;
  #draining = false;

  constructor(options: InProcessAuditQueueOptions) {
    this.#log = options.log;
    this.#policy = batchPolicy(options);
  }

  /** Events held: waiting, in a batch being written, or waiting out a retry (tests, operations). */
  get pending(): number {
    let delayed = 0;
    for (const d of this.#delayed) delayed += d.entries.length;
    return this.#ready.length + this.#inHand + delayed;
  }

  record(event: AuditEvent): void {
    if (this.#closed) {
      this.#log.error({ type: event.type, eventId: event.id }, 'audit event dropped: the audit queue is closed');
      return;
    }
    let valid: AuditEvent;
    try {
      valid = validAuditEvent(event);
    } catch (err) {
      this.#log.error({ err, type: event?.type }, 'audit event dropped: malformed');
      return;
    }
    this.#ready.push({ event: structuredClone(valid), deliveries: 0, readyAt: Date.now() });
    this.#wake();
  }

  async consume(handler: Handler): Promise<{ stop(): Promise<void> }> {
    if (this.#closed) throw closedError();
    const consumer: Consumer = { stopping: false };
    this.#consumers.set(consumer, this.#loop(consumer, handler));
    if (this.#consumers.size === 1) for (const d of this.#delayed) this.#arm(d);
    return { stop: () => this.#stop(consumer) };
  }

  /**
   * Takes no more events; hands what is ready, and what waits out a retry, to
   * the running consumers one last time (a batch that fails then is lost, and
   * logged); then stops them and clears every timer.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const d of this.#delayed) {
      clearTimeout(d.timer);
      this.#ready.push(...d.entries);
    }
    this.#delayed.clear();
    this.#draining = true;
    await Promise.all([...this.#consumers.keys()].map((c) => this.#stop(c)));
    const left = this.pending;
    if (left > 0)
      this.#log.error({ events: left }, 'audit events not written: the in-process queue keeps them in memory only');
  }

  async #stop(consumer: Consumer): Promise<void> {
    const done = this.#consumers.get(consumer);
    if (!done) return;
    consumer.stopping = true;
    this.#wake();
    await done;
    this.#consumers.delete(consumer);
    // Nobody to deliver to: no timer may keep the process alive; the next consume() re-arms them.
    if (this.#consumers.size === 0) {
      for (const d of this.#delayed) {
        clearTimeout(d.timer);
        d.timer = undefined;
      }
    }
  }

  async #loop(consumer: Consumer, handler: Handler): Promise<void> {
    for (;;) {
      if (consumer.stopping) {
        // Closing: what is ready goes out now, a batch at a time, until one fails.
        if (!this.#draining || this.#ready.length === 0) return;
        if (!(await this.#deliver(this.#ready.splice(0, this.#policy.batchSize), handler))) return;
        continue;
      }
      if (this.#ready.length === 0) {
        await this.#sleep(undefined);
        continue;
      }
      const first = this.#ready[0] as Entry;
      const wait = first.readyAt + this.#policy.batchWaitMs - Date.now();
      if (this.#ready.length < this.#policy.batchSize && wait > 0) {
        await this.#sleep(wait);
        continue; // full, due, or stopping now: looked at again
      }
      await this.#deliver(this.#ready.splice(0, this.#policy.batchSize), handler);
    }
  }

  /** Hands `entries` to `handler`; true when it wrote them, else they wait out a delay. */
  async #deliver(entries: Entry[], handler: Handler): Promise<boolean> {
    for (const e of entries) e.deliveries += 1;
    const attempt = Math.max(...entries.map((e) => e.deliveries));
    const log = this.#log.child({ events: entries.length, attempt });
    this.#inHand += entries.length;
    try {
      await handler(
        entries.map((e) => structuredClone(e.event)),
        { attempt, log },
      );
      return true;
    } catch (err) {
      const delay = retryDelayMs(this.#policy.retryDelaysMs, attempt);
      if (this.#closed) {
        log.error({ err }, 'audit batch not written at shutdown: lost');
        return false;
      }
      log.warn({ err, retryInMs: delay }, 'audit batch not written, will retry');
      const d: Delayed = { entries, due: Date.now() + delay, timer: undefined };
      this.#delayed.add(d);
      if (this.#consumers.size > 0) this.#arm(d);
      return false;
    } finally {
      this.#inHand -= entries.length;
    }
  }

  #arm(d: Delayed): void {
    clearTimeout(d.timer);
    d.timer = setTimeout(
      () => {
        this.#delayed.delete(d);
        const now = Date.now();
        for (const e of d.entries) e.readyAt = now;
        // Back at the front: they have waited longest.
        this.#ready.unshift(...d.entries);
        this.#wake();
      },
      Math.max(0, d.due - Date.now()),
    );
  }

  /** Until woken (an event, a stop) or, with `ms`, that long at most. */
  async #sleep(ms: number | undefined): Promise<void> {
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }
}
