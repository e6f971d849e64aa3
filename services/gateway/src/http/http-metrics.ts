import { type HttpRouteSeries, metrics } from '@gatehouse/kit';
import type { FastifyInstance, onResponseHookHandler } from 'fastify';

/**
 * `gatehouse_http_requests_total{route,method,status}` and
 * `gatehouse_http_request_duration_seconds{route,method}` for every route,
 * labelled with the route's template (`/admin/users/:id`), never the raw path.
 *
 * Each route gets an onResponse hook of its own that holds its series, so a
 * response costs a Map read and a few additions: no label hashing, no
 * `request.routeOptions` (a getter that builds an object). Must be called
 * before the routes are registered. Requests no route matches are counted by
 * `countUnmatched` (the not-found handler).
 */
export function measureRoutes(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const template = route.url;
    const byMethod = new Map<string, HttpRouteSeries>();
    const hook: onResponseHookHandler = (request, reply, done) => {
      let series = byMethod.get(request.method);
      if (!series) {
        series = metrics.http.series(template, request.method);
        byMethod.set(request.method, series);
      }
      series.observe(reply.elapsedTime / 1000, reply.statusCode);
      done();
    };
    const existing = route.onResponse;
    route.onResponse = existing ? [...(Array.isArray(existing) ? existing : [existing]), hook] : hook;
  });
}

/** A request no route matched (the not-found handler): counted under the route `unmatched`. */
export function countUnmatched(method: string, status: number): void {
  metrics.http.series('unmatched', method.slice(0, 16)).countStatus(status);
}
