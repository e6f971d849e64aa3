import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's Prometheus metrics (prom-client), one registry per process: a
 * service on its own has its own; the embedded mode's services share one, as
 * they share the process. Labels are route templates, subjects, methods and
 * outcomes: never a raw path, an email, a token or another personal datum.
 */
export class Metrics {
  readonly registry = new Registry();
  #defaults = false;

  /** Every HTTP request the gateway answered, by route template, method and status. */
  readonly httpRequests = new Counter({
    name: 'gatehouse_http_requests_total',
    help: 'HTTP requests answered, by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'HTTP request duration, by route template and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

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
