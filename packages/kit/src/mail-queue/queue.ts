import type { MailJob } from '@gatehouse/contracts';
import type { Logger } from 'pino';

/** What a consumer's handler knows about the delivery it is handling. */
export interface MailDelivery {
  /** 1 on the first delivery, 2 on the first retry, and so on. */
  attempt: number;
  /** True when no retry follows a failure of this attempt: it goes to the dead letters instead. */
  last: boolean;
  requestId: string;
  log: Logger;
}

/**
 * The durable mail queue: JetStream in the stack, an in-process queue in
 * embedded mode. One contract suite runs against both.
 */
export interface MailQueue {
  /**
   * Stores the job durably (JetStream: after the stream's PubAck) and resolves;
   * rejects with AppError `service_unavailable` when it cannot. A job enqueued
   * twice with the same id is stored once.
   */
  enqueue(job: MailJob, options?: { requestId?: string }): Promise<void>;
  /**
   * Hands every job to `handler`, one at a time per consumer. Resolving acks the
   * job; throwing retries it later with backoff; after the last attempt it goes
   * to the dead-letter subject and is acked. Jobs enqueued while nobody consumed
   * are delivered when a consumer starts.
   */
  consume(handler: (job: MailJob, delivery: MailDelivery) => Promise<void>): Promise<{ stop(): Promise<void> }>;
  /** Resolves when the queue can take jobs; rejects otherwise (readiness). */
  ping(): Promise<void>;
  /** Jobs not yet sent: waiting, waiting out a retry's backoff, or in a consumer's hands (a metric). */
  depth(): Promise<number>;
  close(): Promise<void>;
}
