import { runIn, SpanKind, startSpan } from '@gatehouse/kit';
import type { FastifyInstance } from 'fastify';

type Traced = ReturnType<typeof startSpan>;

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's span and its context (tracing on only). */
    trace: Traced | null;
  }
}

/**
 * A SERVER span per request, the parent of every bus hop it makes (a caller's
 * `traceparent` is its parent), named by the route template once it is known.
 * Registered only while tracing is on: off, no hook runs.
 *
 * The context is made active in onRequest and again in preHandler: a body is
 * read from the socket's events, which do not carry it, so what runs after
 * the parsing (the handler) would otherwise be outside the trace.
 */
export function traceRequests(app: FastifyInstance): void {
  app.decorateRequest('trace', null);
  app.addHook('onRequest', (request, _reply, done) => {
    const traced = startSpan(
      request.method,
      { 'http.request.method': request.method, 'url.path': request.url.split('?', 1)[0] ?? '' },
      SpanKind.SERVER,
      request.headers as Record<string, string>,
    );
    request.trace = traced;
    runIn(traced.context, done);
  });
  app.addHook('preHandler', (request, _reply, done) => {
    if (request.trace) runIn(request.trace.context, done);
    else done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = request.trace?.span;
    if (span) {
      const route = request.routeOptions.url;
      if (route) {
        span.updateName(`${request.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: 2 });
      span.end();
    }
    done();
  });
}
