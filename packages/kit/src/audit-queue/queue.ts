import type { AuditEvent } from '@gatehouse/contracts';
import type { Logger } from 'pino';

/**
 * Where producers put audit events. `record` returns at once and never
 * throws: an audit event must not slow a sign-in nor fail it. An event that
 * cannot be stored (malformed, or the queue unreachable past its retries) is
 * logged at error level and dropped.
 */
export interface AuditSink {
  record(event: AuditEvent): void;
}

/** What a consumer's handler knows about the batch it is handed. */
export interface AuditBatch {
  /** The highest delivery count in the batch: 1 when every event is new. */
  attempt: number;
  log: Logger;
}

/** How events are gathered into batches, and how long a failed batch waits. */
export interface AuditBatchOptions {
  /** Events per batch at most (default 500). */
  batchSize?: number;
  /** A batch is handed over this long after its first event arrived, full or not (default 200 ms). */
  batchWaitMs?: number;
  /**
   * Wait after failed delivery n is `retryDelaysMs[n - 1]`, the last entry
   * repeating (default 1 s, 5 s, 15 s, 30 s). There is no last attempt: an
   * event is kept until it is written.
   */
  retryDelaysMs?: number[];
}

export const DEFAULT_AUDIT_BATCH_SIZE = 500;
export const DEFAULT_AUDIT_BATCH_WAIT_MS = 200;
export const DEFAULT_AUDIT_RETRY_DELAYS_MS = [1_000, 5_000, 15_000, 30_000];

/** The resolved batch options; throws on a value that could never deliver anything. */
export function batchPolicy(options: AuditBatchOptions): Required<AuditBatchOptions> {
  const policy = {
    batchSize: options.batchSize ?? DEFAULT_AUDIT_BATCH_SIZE,
    batchWaitMs: options.batchWaitMs ?? DEFAULT_AUDIT_BATCH_WAIT_MS,
    retryDelaysMs: options.retryDelaysMs ?? DEFAULT_AUDIT_RETRY_DELAYS_MS,
  };
  if (!Number.isInteger(policy.batchSize) || policy.batchSize < 1) throw new Error('batchSize must be an integer >= 1');
  if (!Number.isFinite(policy.batchWaitMs) || policy.batchWaitMs < 0) throw new Error('batchWaitMs must be >= 0');
  if (policy.retryDelaysMs.length === 0 || policy.retryDelaysMs.some((ms) => !Number.isFinite(ms) || ms < 0))
    throw new Error('retryDelaysMs must be a non-empty list of delays >= 0');
  return policy;
}

/**
 * The durable audit queue: JetStream in the stack, in process in embedded
 * mode. One contract suite runs against both.
 */
export interface AuditQueue extends AuditSink {
  /**
   * Hands the events to `handler` in batches (at most `batchSize`, or what
   * arrived within `batchWaitMs` of the batch's first event), one batch at a
   * time per consumer. Resolving acks the whole batch; throwing keeps every
   * event of it and hands them over again after a delay, for as long as it
   * takes. Events recorded while nobody consumed are handed over when a
   * consumer starts. A batch holds an event once, but delivery is at least
   * once across batches: the handler must write idempotently (by event id).
   */
  consume(handler: (events: AuditEvent[], batch: AuditBatch) => Promise<void>): Promise<{ stop(): Promise<void> }>;
  /** Stops every consumer (the batch in hand finishes) and gives the events in flight their last chance. */
  close(): Promise<void>;
}
