import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Bus, RequestSubjectName } from './bus/bus.ts';
import type { Config } from './config.ts';
import { metrics } from './metrics.ts';
import type { Shutdown } from './shutdown.ts';
import { startTracing } from './tracing.ts';

export interface OpsServer {
  /** The port it listens on (OPS_PORT, or the one given by the system for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** How long a readiness check may take before the probe is answered 503. */
const READY_TIMEOUT_MS = 2_000;

/**
 * A service's operations port (OPS_PORT), for the orchestrator and Prometheus:
 * `GET /healthz` (200 while the process lives: the liveness probe),
 * `GET /readyz` (200 when `ready` resolves within 2 s, else 503 with the
 * contract's error body: the readiness probe) and `GET /metrics` (this
 * process's metrics, Prometheus text). Nothing else; no request body is read.
 */
export async function startOpsServer(options: {
  port: number;
  host: string;
  log: Logger;
  /** Resolves when the service can serve (its bus and its stores answer); rejects, saying why, when not. */
  ready: () => Promise<void>;
}): Promise<OpsServer> {
  const { log, ready } = options;
  /** The last probe's answer (undefined before the first): a change is logged. */
  let wasReady: boolean | undefined;
  const send = (res: ServerResponse, status: number, body: string, type = 'application/json; charset=utf-8') => {
    res.writeHead(status, {
      'content-type': type,
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, JSON.stringify({ error: 'method_not_allowed', message: 'the operations port answers GET only' }));
      return;
    }
    if (path === '/healthz') {
      send(res, 200, JSON.stringify({ status: 'ok' }));
      return;
    }
    if (path === '/readyz') {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      });
      Promise.race([ready(), timeout])
        .then(
          () => {
            if (wasReady === false) log.info('ready again');
            wasReady = true;
            send(res, 200, JSON.stringify({ status: 'ready' }));
          },
          (err: Error) => {
            // Said once when it changes, not at every probe.
            if (wasReady) log.warn({ err: err.message }, 'not ready');
            wasReady = false;
            send(res, 503, JSON.stringify({ error: 'service_unavailable', message: `not ready: ${err.message}` }));
          },
        )
        .finally(() => clearTimeout(timer));
      return;
    }
    if (path === '/metrics') {
      metrics.text().then(
        (text) => send(res, 200, text, metrics.contentType),
        (err: Error) => {
          log.error({ err }, 'could not collect the metrics');
          send(res, 500, JSON.stringify({ error: 'internal', message: 'could not collect the metrics' }));
        },
      );
      return;
    }
    send(res, 404, JSON.stringify({ error: 'not_found', message: `no route GET ${path}` }));
  });
  // A probe never keeps a connection long.
  server.requestTimeout = 5_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port }, 'operations port listening (/healthz, /readyz, /metrics)');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A service process's operations, as its main module starts them: the default
 * process metrics, traces when the OTEL_* variables ask for them, and the operations port when OPS_PORT is set (closed last at
 * shutdown, so the probes answer while the service drains). `ready` may be
 * called before the service has started: it rejects until then.
 */
export async function serveOperations(
  service: string,
  config: Pick<Config, 'opsPort' | 'host'>,
  log: Logger,
  shutdown: Shutdown,
  ready: () => Promise<void>,
): Promise<void> {
  metrics.collectDefaults();
  const tracing = startTracing(service);
  // Registered first, so it runs last: the spans of the drain are exported too.
  if (tracing) shutdown.add('tracing', () => tracing.shutdown());
  if (config.opsPort === undefined) return;
  const ops = await startOpsServer({ port: config.opsPort, host: config.host, log, ready });
  shutdown.add('operations port', () => ops.close());
}

/** `bus.selfCheck(subject)`, or not ready while the bus is still being connected. */
export async function selfCheck(bus: Bus | undefined, subject: RequestSubjectName): Promise<void> {
  if (!bus) throw new Error('not connected to NATS yet');
  await bus.selfCheck(subject);
}
