import { AppError } from '../errors.ts';

/**
 * A request nobody answered within its time: the replica that took it may be
 * gone. A `service_unavailable` like any other to the HTTP client; the bus
 * sends a request that is safe to repeat once more (RETRYABLE_REQUESTS).
 */
export class Unanswered extends AppError {
  constructor(subject: string, cause?: unknown) {
    super('service_unavailable', `${subject} did not answer`, { cause, retryAfter: 2 });
  }
}

/** Headers carried with every message: the request id, and trace context when present. */
export type Headers = Record<string, string>;

/**
 * The narrow interface a message transport implements: NATS in the stack, an
 * in-process switchboard in embedded mode. Bodies are JSON strings so both
 * transports carry exactly the same bytes. One contract suite runs against
 * every implementation.
 */
export interface Transport {
  /**
   * Sends a request to one member of the subject's queue group and resolves with
   * its reply body. Rejects with AppError `service_unavailable` when nobody
   * answers within `timeoutMs` or the transport is down.
   */
  request(subject: string, body: string, options: { timeoutMs: number; headers: Headers }): Promise<string>;
  /** Serves `subject` in queue group `queue`: each request reaches one member. */
  serve(subject: string, queue: string, handler: (body: string, headers: Headers) => Promise<string>): void;
  /** Publishes an event; resolves once the transport has accepted it (NATS: flushed to the server). */
  publish(subject: string, body: string, headers: Headers): Promise<void>;
  /** Receives every event on `subject` (one member per `queue` when a queue is given). */
  subscribe(subject: string, handler: (body: string, headers: Headers) => void, queue?: string): void;
  /** Called after the connection came back: events may have been missed meanwhile. */
  onReconnect(listener: () => void): void;
  /** Called when the connection is lost: from now on events may be missed. */
  onDisconnect(listener: () => void): void;
  /** Resolves when the transport can carry messages; rejects otherwise. */
  ping(): Promise<void>;
  /**
   * The first step of a graceful stop: takes no new request (NATS: unsubscribes
   * from every queue group, so the other replicas get them), and resolves once
   * every request already taken has been answered. The connection stays up
   * (events can still be published) until `close`.
   */
  stopServing(): Promise<void>;
  close(): Promise<void>;
}
