import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

/**
 * One log line per request, at the edge, with the outcome (Fastify's default
 * is two). Successful reads go to debug so the hot path pays for no log write.
 * Done in the log controller, which Fastify calls anyway, rather than in an
 * onResponse hook: a hook costs a noticeable share of a fast route.
 */
export class EdgeLogController extends LogController {
  readonly #debug: boolean;

  /** `debug`: whether the logger writes debug lines at all (fixed for the process). */
  constructor(debug: boolean) {
    super();
    this.#debug = debug;
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    const level = error || status >= 500 ? 'error' : status >= 400 || request.method !== 'GET' ? 'info' : 'debug';
    if (level === 'debug' && !this.#debug) return;
    const route = request.routeOptions.url;
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
