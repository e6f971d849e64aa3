import {
  type EventOf,
  type EventSchemas,
  eventSchemas,
  isErrorCode,
  queueGroupOf,
  RETRYABLE_REQUESTS,
  ReplyError,
  type RequestOf,
  type RequestSchemas,
  type ResponseOf,
  requestSchemas,
} from '@gatehouse/contracts';
import type { Static } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import { metrics } from '../metrics.ts';
import { injectTrace, SpanKind, traced, tracingEnabled, withRemoteParent } from '../tracing.ts';
import { validate } from '../validation.ts';
import { type Headers, type Transport, Unanswered } from './transport.ts';

export type RequestSubjectName = keyof RequestSchemas;
export type EventSubjectName = keyof EventSchemas;

/** What a handler knows about the message it is handling. */
export interface MessageContext {
  requestId: string;
  log: Logger;
}

/**
 * The bus as one incoming request sees it: every request it makes carries
 * that request's id, so a sign-in can be followed through every service and
 * no call can forget to pass it on.
 */
export interface RequestBus {
  request<S extends RequestSubjectName>(
    subject: S,
    data: RequestOf<S>,
    options?: { timeoutMs?: number },
  ): Promise<ResponseOf<S>>;
}

type ReplyErrorBody = Static<typeof ReplyError>;
type Reply = { ok: true; data: unknown } | { ok: false; error: ReplyErrorBody };

/**
 * The typed, validated bus every service uses. Payloads are checked against
 * the contracts' schemas on both ends; a reply is `{ok, data}` or
 * `{ok: false, error}`, and an error reply is rethrown to the caller as the
 * same AppError. Anything that is not an AppError is a bug: logged with the
 * request id and answered as `internal`.
 */
export class Bus {
  readonly transport: Transport;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #served = new Map<string, (data: unknown, ctx: MessageContext) => Promise<unknown>>();

  constructor(transport: Transport, log: Logger, options: { timeoutMs: number }) {
    this.transport = transport;
    this.#log = log;
    this.#timeoutMs = options.timeoutMs;
  }

  /** This bus, with every request tagged with `requestId`. */
  for(requestId: string): RequestBus {
    return { request: (subject, data, options) => this.request(subject, data, { ...options, requestId }) };
  }

  /** Sends a request; resolves with the validated response or throws the handler's AppError. */
  async request<S extends RequestSubjectName>(
    subject: S,
    data: RequestOf<S>,
    options: { requestId?: string; timeoutMs?: number } = {},
  ): Promise<ResponseOf<S>> {
    const started = performance.now();
    let outcome = 'ok';
    try {
      if (!tracingEnabled()) return await this.#request(subject, data, options);
      return await traced(
        subject,
        { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'messaging.operation.type': 'send' },
        () => this.#request(subject, data, options),
        SpanKind.CLIENT,
      );
    } catch (err) {
      outcome = err instanceof AppError ? err.code : 'error';
      throw err;
    } finally {
      metrics.busDuration.observe({ subject, outcome }, (performance.now() - started) / 1000);
    }
  }

  async #request<S extends RequestSubjectName>(
    subject: S,
    data: RequestOf<S>,
    options: { requestId?: string; timeoutMs?: number },
  ): Promise<ResponseOf<S>> {
    const schemas = requestSchemas[subject];
    validate(schemas.request, data, `${subject} request`);
    const body = JSON.stringify(data);
    const headers: Record<string, string> = { 'x-request-id': options.requestId ?? newId() };
    injectTrace(headers);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    let raw: string;
    if (!RETRYABLE_REQUESTS.has(subject)) {
      raw = await this.transport.request(subject, body, { timeoutMs, headers });
    } else {
      // Safe to send twice: half the time for each try, so a caller waits no longer than for
      // one; the second goes to another replica when the first one's taker died.
      const first = Math.ceil(timeoutMs / 2);
      try {
        raw = await this.transport.request(subject, body, { timeoutMs: first, headers });
      } catch (err) {
        if (!(err instanceof Unanswered)) throw err;
        this.#log.warn({ subject, reqId: headers['x-request-id'] }, 'no answer: sent once more');
        raw = await this.transport.request(subject, body, { timeoutMs: timeoutMs - first, headers });
      }
    }
    let reply: Reply;
    try {
      reply = JSON.parse(raw) as Reply;
    } catch (cause) {
      throw new AppError('internal', `${subject} sent a malformed reply`, { cause });
    }
    if (reply.ok) return validate(schemas.response, reply.data, `${subject} response`);
    // A code this side does not know (a newer peer's) is not a broken reply: it is read as `internal`.
    const sent = reply.error as Partial<ReplyErrorBody> | undefined;
    const readable = sent && typeof sent === 'object' && !isErrorCode(sent.code) ? { ...sent, code: 'internal' } : sent;
    const error = validate(ReplyError, readable, `${subject} error`);
    throw new AppError(error.code, error.message, {
      ...(error.details ? { details: error.details } : {}),
      ...(error.retry_after !== undefined ? { retryAfter: error.retry_after } : {}),
    });
  }

  /** Serves a request subject in the owning service's queue group. */
  serve<S extends RequestSubjectName>(
    subject: S,
    handler: (data: RequestOf<S>, ctx: MessageContext) => Promise<ResponseOf<S>>,
  ): void {
    const schemas = requestSchemas[subject];
    this.#served.set(subject, handler as (data: unknown, ctx: MessageContext) => Promise<unknown>);
    this.transport.serve(subject, queueGroupOf(subject), async (body, headers) => {
      const requestId = headers['x-request-id'] ?? newId();
      const log = this.#log.child({ reqId: requestId, subject });
      const answer = async () => {
        try {
          const data = validate(schemas.request, JSON.parse(body), `${subject} request`);
          const result = await handler(data, { requestId, log });
          validate(schemas.response, result, `${subject} response`);
          return JSON.stringify({ ok: true, data: result } satisfies Reply);
        } catch (err) {
          return JSON.stringify({ ok: false, error: this.#toReplyError(err, log) } satisfies Reply);
        }
      };
      if (!tracingEnabled()) return answer();
      // The caller's trace goes on here: the handler's queries and calls are its children.
      return withRemoteParent(
        headers,
        `handle ${subject}`,
        { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'messaging.operation.type': 'process' },
        SpanKind.SERVER,
        answer,
      );
    });
  }

  /**
   * This process's readiness (an operations port's /readyz): the transport
   * carries messages, and this process's own handler of `subject` (a health
   * check) answers, called here directly: over the bus the queue group would
   * let another replica answer for this one.
   */
  async selfCheck(subject: RequestSubjectName): Promise<void> {
    await this.transport.ping();
    const handler = this.#served.get(subject);
    if (!handler) throw new AppError('service_unavailable', `${subject} is not served by this process`);
    await handler({}, { requestId: newId(), log: this.#log });
  }

  /** Publishes a validated event. */
  async publish<E extends EventSubjectName>(subject: E, data: EventOf<E>, options: { requestId?: string } = {}) {
    validate(eventSchemas[subject], data, `${subject} event`);
    const headers: Headers = { 'x-request-id': options.requestId ?? newId() };
    injectTrace(headers);
    await this.transport.publish(subject, JSON.stringify(data), headers);
  }

  /**
   * Receives an event. Without `queue` every subscriber gets it (the gateway's
   * revocation set); with a queue, one member of the group does.
   */
  subscribe<E extends EventSubjectName>(
    subject: E,
    handler: (data: EventOf<E>, ctx: MessageContext) => void | Promise<void>,
    options: { queue?: string } = {},
  ): void {
    this.transport.subscribe(
      subject,
      (body, headers) => {
        const requestId = headers['x-request-id'] ?? newId();
        const log = this.#log.child({ reqId: requestId, subject });
        try {
          const data = validate(eventSchemas[subject], JSON.parse(body), `${subject} event`);
          // The handler starts synchronously either way (the revocation set is updated before
          // this callback returns); traced, as a child of the publisher's span.
          const handled = tracingEnabled()
            ? withRemoteParent(
                headers,
                `on ${subject}`,
                {
                  'messaging.system': 'nats',
                  'messaging.destination.name': subject,
                  'messaging.operation.type': 'process',
                },
                SpanKind.CONSUMER,
                async () => handler(data, { requestId, log }),
              )
            : Promise.resolve(handler(data, { requestId, log }));
          handled.catch((err) => log.error({ err }, 'event handler failed'));
        } catch (err) {
          log.error({ err }, 'dropped an invalid event');
        }
      },
      options.queue,
    );
  }

  #toReplyError(err: unknown, log: Logger): ReplyErrorBody {
    if (err instanceof AppError) {
      if (err.code === 'service_unavailable') log.warn({ err }, err.message);
      return {
        code: err.code,
        message: err.message,
        ...(err.details ? { details: err.details } : {}),
        ...(err.retryAfter !== undefined ? { retry_after: err.retryAfter } : {}),
      };
    }
    if (err instanceof SyntaxError) return { code: 'validation_failed', message: 'malformed message' };
    log.error({ err }, 'unexpected error');
    return { code: 'internal', message: 'internal error' };
  }
}
