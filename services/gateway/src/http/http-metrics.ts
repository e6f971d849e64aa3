import { metrics } from '@gatehouse/kit';
import type { FastifyInstance, onResponseHookHandler } from 'fastify';

type Observer = { observe(seconds: number): void };
type Incrementer = { inc(): void };

/**
 * `gatehouse_http_requests_total{route,method,status}` and
 * `gatehouse_http_request_duration_seconds{route,method}` for every route,
 * labelled with the route's template (`/admin/users/:id`), never the raw path.
 *
 * Each route gets an onResponse hook of its own that holds its labelled
 * series, so a response costs a couple of Map reads and two additions: no
 * label hashing, no `request.routeOptions` (a getter that builds an object).
 * Must be called before the routes are registered. Requests no route matches
 * are counted by `countUnmatched` (the not-found handler).
 */
export function measureRoutes(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const template = route.url;
    const byMethod = new Map<string, { duration: Observer; statuses: Map<number, Incrementer> }>();
    const series = (method: string) => {
      let entry = byMethod.get(method);
      if (!entry) {
        entry = { duration: metrics.httpDuration.labels(template, method), statuses: new Map() };
        byMethod.set(method, entry);
      }
      return entry;
    };
    const hook: onResponseHookHandler = (request, reply, done) => {
      const entry = series(request.method);
      entry.duration.observe(reply.elapsedTime / 1000);
      const status = reply.statusCode;
      let counter = entry.statuses.get(status);
      if (!counter) {
        counter = metrics.httpRequests.labels(template, request.method, String(status));
        entry.statuses.set(status, counter);
      }
      counter.inc();
      done();
    };
    const existing = route.onResponse;
    route.onResponse = existing ? [...(Array.isArray(existing) ? existing : [existing]), hook] : hook;
  });
}

/** A request no route matched (the not-found handler): counted under the route `unmatched`. */
export function countUnmatched(method: string, status: number): void {
  metrics.httpRequests.inc({ route: 'unmatched', method: method.slice(0, 16), status: String(status) });
}
