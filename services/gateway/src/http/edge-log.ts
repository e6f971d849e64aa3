import type { HttpRouteSeries } from '@gatehouse/kit';
import { metrics } from '@gatehouse/kit';
import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

/**
 * One log line per request, at the edge, with the outcome (Fastify's default
 * is two). Successful reads go to debug so the hot path pays for no log write.
 * Done in the log controller, which Fastify calls anyway, rather than in an
 * onResponse hook: a hook costs a noticeable share of a fast route. The HTTP
 * metrics are counted here for the same reason (with METRICS on): a route's
 * series is found by its template in two Map reads.
 */
export class EdgeLogController extends LogController {
  readonly #debug: boolean;
  readonly #metrics: boolean;
  /** Route template -> method -> its series. */
  readonly #series = new Map<string, Map<string, HttpRouteSeries>>();

  /** `debug`: whether the logger writes debug lines at all (fixed for the process); `measure`: METRICS. */
  constructor(debug: boolean, measure = false) {
    super();
    this.#debug = debug;
    this.#metrics = measure;
  }

  #count(request: FastifyRequest, reply: FastifyReply, route: string | undefined): void {
    // No route matched: one series, `unmatched`, counted without a duration.
    const template = route ?? 'unmatched';
    let methods = this.#series.get(template);
    if (!methods) {
      methods = new Map();
      this.#series.set(template, methods);
    }
    let series = methods.get(request.method);
    if (!series) {
      series = metrics.http.series(template, route === undefined ? request.method.slice(0, 16) : request.method);
      methods.set(request.method, series);
    }
    if (route === undefined) series.countStatus(reply.statusCode);
    else series.observe(reply.elapsedTime / 1000, reply.statusCode);
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    const level = error || status >= 500 ? 'error' : status >= 400 || request.method !== 'GET' ? 'info' : 'debug';
    const quiet = level === 'debug' && !this.#debug;
    if (quiet && !this.#metrics) return;
    const route = request.routeOptions.url;
    if (this.#metrics) this.#count(request, reply, route);
    if (quiet) return;
    reply.log[level](
      route === undefined
        ? // No route matched (a 404): the path, so it can be traced; never the query, which may hold a token.
          {
            method: request.method,
            url: request.url.split('?', 1)[0]!.slice(0, 512),
            status,
            ms: Math.round(reply.elapsedTime),
          }
        : { method: request.method, route, status, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  }
}
