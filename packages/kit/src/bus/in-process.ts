import { AppError } from '../errors.ts';
import { type Headers, type Transport, Unanswered } from './transport.ts';

type Server = (body: string, headers: Headers) => Promise<string>;
type Listener = (body: string, headers: Headers) => void;

/**
 * The embedded mode's transport: subjects are routed inside the process, with
 * the same queue-group and timeout semantics as NATS (round robin over the
 * members of a group, `service_unavailable` when nobody serves a subject).
 * Events are delivered before `publish` resolves, as a flushed NATS publish is
 * at the server before it returns.
 */
export class InProcessTransport implements Transport {
  readonly #servers = new Map<string, { handlers: Server[]; next: number }>();
  readonly #listeners = new Map<string, { handler: Listener; queue: string | undefined }[]>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  async request(subject: string, body: string, options: { timeoutMs: number; headers: Headers }): Promise<string> {
    const group = this.#servers.get(subject);
    if (this.#closed || !group || group.handlers.length === 0) {
      throw new AppError('service_unavailable', `no service answers ${subject}`, { retryAfter: 2 });
    }
    const handler = group.handlers[group.next++ % group.handlers.length] as Server;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Unanswered(subject)), options.timeoutMs);
    });
    const answer = handler(body, { ...options.headers });
    this.#inFlight.add(answer);
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(answer);
    }
  }

  serve(subject: string, _queue: string, handler: Server): void {
    const group = this.#servers.get(subject) ?? { handlers: [], next: 0 };
    group.handlers.push(handler);
    this.#servers.set(subject, group);
  }

  async publish(subject: string, body: string, headers: Headers): Promise<void> {
    if (this.#closed) throw new AppError('service_unavailable', 'bus closed', { retryAfter: 2 });
    const listeners = this.#listeners.get(subject) ?? [];
    const seenQueues = new Set<string>();
    for (const { handler, queue } of listeners) {
      // A queue group gets the event once, like NATS.
      if (queue !== undefined) {
        if (seenQueues.has(queue)) continue;
        seenQueues.add(queue);
      }
      handler(body, { ...headers });
    }
  }

  subscribe(subject: string, handler: Listener, queue?: string): void {
    const list = this.#listeners.get(subject) ?? [];
    list.push({ handler, queue });
    this.#listeners.set(subject, list);
  }

  onReconnect(_listener: () => void): void {
    // Never disconnects.
  }

  onDisconnect(_listener: () => void): void {
    // Never disconnects.
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new AppError('service_unavailable', 'bus closed', { retryAfter: 2 });
  }

  /** No new request is served from now on; resolves once the ones in hand are answered. */
  async stopServing(): Promise<void> {
    this.#servers.clear();
    // Bounded as NATS's is: a hanging handler must not hold the stop.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inFlight]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 7_000);
      }),
    ]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#servers.clear();
    this.#listeners.clear();
  }
}
