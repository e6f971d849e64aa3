import {
  type Attributes,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';

export { SpanKind };

/**
 * OpenTelemetry traces, off by default. With `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER=otlp`)
 * set, each process exports its spans over OTLP/HTTP (the exporter reads the
 * other standard `OTEL_EXPORTER_OTLP_*` variables itself; `OTEL_SERVICE_NAME`
 * names the service, `OTEL_SDK_DISABLED=true` keeps it off). One trace follows
 * a request from the gateway's HTTP span through every bus hop (the W3C
 * `traceparent` in the NATS headers) to the Postgres queries and Redis commands.
 *
 * While off, nothing here costs more than a boolean test: no span is made,
 * no header written.
 */
let enabled = false;
let provider: TracerProvider | undefined;
const tracer = () => trace.getTracer('gatehouse');

/** True once `startTracing` has set a tracer provider up. */
export function tracingEnabled(): boolean {
  return enabled;
}

/** Whether the standard variables ask for traces. */
export function tracesRequested(env: Record<string, string | undefined> = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim());
  if (exporters.includes('none')) return false;
  return Boolean(
    env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || exporters.includes('otlp'),
  );
}

/**
 * Starts tracing for this process when the environment asks for it (or with
 * `exporter`, which a test gives: every span handed to it as it ends).
 * Returns the flush-and-stop for the shutdown, or null when tracing stays off.
 */
export function startTracing(
  service: string,
  options: { exporter?: SpanExporter; env?: Record<string, string | undefined> } = {},
): { shutdown(): Promise<void> } | null {
  const env = options.env ?? process.env;
  if (!options.exporter && !tracesRequested(env)) return null;
  if (provider) return { shutdown: () => stopTracing() };
  const delay = Number(env.OTEL_BSP_SCHEDULE_DELAY);
  const processor = options.exporter
    ? new SimpleSpanProcessor({ exporter: options.exporter })
    : new BatchSpanProcessor({
        exporter: new OTLPTraceExporter(),
        ...(Number.isInteger(delay) && delay > 0 ? { scheduledDelayMillis: delay } : {}),
      });
  provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || `gatehouse-${service}` }),
    spanProcessors: [processor],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  return { shutdown: () => stopTracing() };
}

/** Flushes the spans not yet exported and turns tracing off (the shutdown; tests between cases). */
export async function stopTracing(): Promise<void> {
  const current = provider;
  provider = undefined;
  enabled = false;
  if (!current) return;
  await current.forceFlush().catch(() => {});
  await current.shutdown().catch(() => {});
  trace.disable();
  context.disable();
  propagation.disable();
}

/**
 * Runs `fn` in a span named `name` (a child of the active one), ending it
 * when `fn` settles and marking an error. While tracing is off, just `fn()`.
 */
export function traced<T>(
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  if (!enabled) return fn();
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn();
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The active trace's context written into `headers` (W3C traceparent), for the next hop. */
export function injectTrace(headers: Record<string, string>): void {
  if (enabled) propagation.inject(context.active(), headers);
}

/**
 * Runs `fn` in a span of kind `kind` whose parent is the trace context the
 * message's `headers` carry (a bus request or event from another process).
 */
export function withRemoteParent<T>(
  headers: Record<string, string>,
  name: string,
  attributes: Attributes,
  kind: SpanKind,
  fn: () => Promise<T>,
): Promise<T> {
  if (!enabled) return fn();
  const parent = propagation.extract(ROOT_CONTEXT, headers);
  return context.with(parent, () => traced(name, attributes, fn, kind));
}

/**
 * A span that already happened (a query Kysely reports once it is done):
 * started `durationMs` ago, ended now, in the active context.
 */
export function recordSpan(name: string, attributes: Attributes, durationMs: number, error?: unknown): void {
  if (!enabled) return;
  const end = Date.now();
  const span = tracer().startSpan(name, { kind: SpanKind.CLIENT, attributes, startTime: end - durationMs });
  if (error !== undefined) failed(span, error);
  span.end(end);
}

/** The active span's trace id, for the logs (undefined while tracing is off or no span is active). */
export function activeTraceId(): string | undefined {
  if (!enabled) return undefined;
  const span = trace.getActiveSpan();
  const id = span?.spanContext().traceId;
  return id && id !== '00000000000000000000000000000000' ? id : undefined;
}

/** Starts a span the caller ends itself (the gateway's HTTP span, ended at the response). */
export function startSpan(
  name: string,
  attributes: Attributes,
  kind: SpanKind,
  parentHeaders?: Record<string, string>,
) {
  const parent = parentHeaders ? propagation.extract(ROOT_CONTEXT, parentHeaders) : context.active();
  const span = tracer().startSpan(name, { kind, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Runs `fn` with `ctx` active (so what it starts, asynchronously too, is in that trace). */
export function runIn<T>(ctx: ReturnType<typeof context.active>, fn: () => T): T {
  return context.with(ctx, fn);
}

function failed(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  if (err instanceof Error) span.recordException(err);
}
