// Traces over the bus with an in-memory exporter: a request's span is the parent of the
// handler's on the other side (the W3C traceparent in the message headers), an event's
// consumer span is the publisher's child, log lines inside a span carry its trace id; and with
// tracing off, no span is made and no header written.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { Bus } from './bus/bus.ts';
import { InProcessTransport } from './bus/in-process.ts';
import type { Headers, Transport } from './bus/transport.ts';
import { createLogger } from './logger.ts';
import { SpanKind, startTracing, stopTracing, traced } from './tracing.ts';

/** The in-process transport, keeping the headers of every request it carries. */
function recording(): { transport: Transport; headers: Headers[] } {
  const inner = new InProcessTransport();
  const headers: Headers[] = [];
  const transport: Transport = {
    request: (subject, body, options) => {
      headers.push({ ...options.headers });
      return inner.request(subject, body, options);
    },
    serve: (subject, queue, handler) => inner.serve(subject, queue, handler),
    publish: (subject, body, h) => inner.publish(subject, body, h),
    subscribe: (subject, handler, queue) => inner.subscribe(subject, handler, queue),
    onReconnect: (listener) => inner.onReconnect(listener),
    onDisconnect: (listener) => inner.onDisconnect(listener),
    ping: () => inner.ping(),
    stopServing: () => inner.stopServing(),
    close: () => inner.close(),
  };
  return { transport, headers };
}

after(() => stopTracing());

describe('tracing', () => {
  test('off: no span, no traceparent header', async () => {
    const { transport, headers } = recording();
    const bus = new Bus(transport, createLogger({ level: 'silent' }), { timeoutMs: 1000 });
    bus.serve('session.jwks.get', async () => ({ keys: [] }));
    await bus.request('session.jwks.get', {});
    assert.equal(headers.length, 1);
    assert.equal(headers[0]?.traceparent, undefined);
  });

  test('on: the handler span is the child of the request span, one trace; events too; logs carry the trace id', async () => {
    const exporter = new InMemorySpanExporter();
    startTracing('test', { exporter });
    try {
      const lines: Record<string, unknown>[] = [];
      const log = createLogger({
        level: 'info',
        service: 'test',
        destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
      });
      const { transport, headers } = recording();
      const bus = new Bus(transport, log, { timeoutMs: 1000 });
      bus.serve('session.jwks.get', async (_data, ctx) => {
        ctx.log.info('handling');
        return { keys: [] };
      });
      let heard: () => void = () => {};
      const event = new Promise<void>((resolve) => {
        heard = resolve;
      });
      bus.subscribe('events.keys.rotated', () => heard());
      await traced(
        'POST /auth/login',
        {},
        async () => {
          await bus.request('session.jwks.get', {});
          await bus.publish('events.keys.rotated', { v: 1, kid: 'k' });
        },
        SpanKind.SERVER,
      );
      await event;
      const spans = exporter.getFinishedSpans();
      const byName = (name: string) => {
        const span = spans.find((s) => s.name === name);
        assert.ok(span, `a span ${name} among ${spans.map((s) => s.name).join(', ')}`);
        return span;
      };
      const root = byName('POST /auth/login');
      const client = byName('session.jwks.get');
      const server = byName('handle session.jwks.get');
      const consumer = byName('on events.keys.rotated');
      const traceId = root.spanContext().traceId;
      for (const span of [client, server, consumer]) assert.equal(span.spanContext().traceId, traceId);
      assert.equal(client.parentSpanContext?.spanId, root.spanContext().spanId);
      assert.equal(server.parentSpanContext?.spanId, client.spanContext().spanId, 'across the bus');
      assert.equal(server.kind, SpanKind.SERVER);
      assert.match(headers[0]?.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      assert.equal(lines.find((l) => l.msg === 'handling')?.trace_id, traceId);
    } finally {
      await stopTracing();
    }
  });
});
