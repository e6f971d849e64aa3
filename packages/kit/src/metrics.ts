import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The duration histogram's bounds, in seconds. */
const HTTP_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** One route and method's requests: what a response costs is a few additions. */
export class HttpRouteSeries {
  count = 0;
  sum = 0;
  /** Per bound (and one past the last, +Inf): the responses that took at most that long. */
  readonly buckets = new Float64Array(HTTP_BOUNDS.length + 1);
  /** Responses by status code. */
  readonly statuses = new Map<number, number>();

  constructor(
    readonly route: string,
    readonly method: string,
  ) {}

  /** A response with `status` after `seconds`. */
  observe(seconds: number, status: number): void {
    this.count++;
    this.sum += seconds;
    let i = 0;
    while (i < HTTP_BOUNDS.length && seconds > (HTTP_BOUNDS[i] as number)) i++;
    (this.buckets as Float64Array)[i] = (this.buckets[i] as number) + 1;
    this.countStatus(status);
  }

  /** A response counted without a duration (a request no route matched). */
  countStatus(status: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }
}

/** The gateway's HTTP series, exposed to the registry as a counter and a histogram. */
export class HttpStats {
  readonly #series = new Map<string, HttpRouteSeries>();

  constructor(registry: Registry) {
    const all = () => [...this.#series.values()];
    const counter = {
      name: 'gatehouse_http_requests_total',
      help: 'HTTP requests answered, by route template, method and status',
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({
        name: counter.name,
        help: counter.help,
        type: 'counter',
        aggregator: 'sum',
        values: all().flatMap((s) =>
          [...s.statuses].map(([status, value]) => ({
            labels: { route: s.route, method: s.method, status: String(status) },
            value,
          })),
        ),
      }),
    };
    const histogram = {
      name: 'gatehouse_http_request_duration_seconds',
      help: 'HTTP request duration, by route template and method',
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({
        name: histogram.name,
        help: histogram.help,
        type: 'histogram',
        aggregator: 'sum',
        values: all()
          .filter((s) => s.count > 0)
          .flatMap((s) => {
            const labels = { route: s.route, method: s.method };
            let cumulative = 0;
            const buckets = [...HTTP_BOUNDS, Number.POSITIVE_INFINITY].map((bound, i) => {
              cumulative += s.buckets[i] as number;
              return {
                metricName: `${histogram.name}_bucket`,
                labels: { ...labels, le: bound === Number.POSITIVE_INFINITY ? '+Inf' : bound },
                value: cumulative,
              };
            });
            return [
              ...buckets,
              { metricName: `${histogram.name}_sum`, labels, value: s.sum },
              { metricName: `${histogram.name}_count`, labels, value: s.count },
            ];
          }),
      }),
    };
    registry.registerMetric(counter as never);
    registry.registerMetric(histogram as never);
  }

  /** The series of `route` and `method` (made on first use; a route template, never a raw path). */
  series(route: string, method: string): HttpRouteSeries {
    const key = `${method} ${route}`;
    let series = this.#series.get(key);
    if (!series) {
      series = new HttpRouteSeries(route, method);
      this.#series.set(key, series);
    }
    return series;
  }
}

/**
 * The process's Prometheus metrics (prom-client), one registry per process: a
 * service on its own has its own; the embedded mode's services share one, as
 * they share the process. Labels are route templates, subjects, methods and
 * outcomes: never a raw path, an email, a token or another personal datum.
 */
export class Metrics {
  readonly registry = new Registry();
  #defaults = false;

  /**
   * `gatehouse_http_requests_total{route,method,status}` and
   * `gatehouse_http_request_duration_seconds{route,method}`: kept in plain
   * numbers per route (see HttpRouteSeries), turned into Prometheus text when
   * scraped. prom-client's own counters hash their labels on every call, which
   * cost GET /auth/session a sixth of its rate.
   */
  readonly http = new HttpStats(this.registry);

  /** Sign-ins by method (password, guest, magic_link, passkey, oauth, ...) and outcome (`success` or a failure code). */
  readonly signIns = new Counter({
    name: 'gatehouse_sign_ins_total',
    help: 'Sign-ins, by method and outcome (success or the failure code)',
    labelNames: ['method', 'outcome'] as const,
    registers: [this.registry],
  });

  /** Requests this process made on the bus, by subject and outcome (`ok` or the error code). */
  readonly busDuration = new Histogram({
    name: 'gatehouse_bus_request_duration_seconds',
    help: 'Bus (NATS) request duration as the caller saw it, by subject and outcome (ok or the error code)',
    labelNames: ['subject', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  /** Sessions revoked (by the session service, which does it). */
  readonly revocations = new Counter({
    name: 'gatehouse_revocations_total',
    help: 'Sessions revoked, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly mailSent = new Counter({
    name: 'gatehouse_mail_sent_total',
    help: 'Mails handed to SMTP, by template and outcome (sent, retried, failed)',
    labelNames: ['template', 'outcome'] as const,
    registers: [this.registry],
  });

  /** Starts the default process metrics (CPU, memory, event loop lag, GC): once per process. */
  collectDefaults(): void {
    if (this.#defaults) return;
    this.#defaults = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * A gauge read when Prometheus scrapes (`read` runs then, and its value is
   * reported): the revocation set's size, the mail queue's depth. Registering
   * the same name again replaces the reader (a gateway rebuilt in tests).
   */
  gauge(name: string, help: string, read: () => number | Promise<number>): void {
    this.registry.removeSingleMetric(name);
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await read());
      },
    });
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** This process's metrics. */
export const metrics = new Metrics();
