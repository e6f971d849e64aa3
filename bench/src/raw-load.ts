import { connect, type Socket } from 'node:net';

/** What one measurement found: its rate, latencies, failures and requests (or hashes) completed. */
export interface Measured {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  count: number;
}

/**
 * A lean load generator for requests that differ one from the next (a token used once each):
 * every request's bytes are built before the clock starts, and each of `connections` keep-alive
 * sockets sends the next one as soon as its previous answer is complete. autocannon rebuilds a
 * request per call when each one differs (`setupRequest`), which on these two cores cost the
 * gateway half its CPU: this one spends a Buffer write and a header scan per request.
 */
export async function sendEach(
  url: string,
  headersOf: (i: number) => Record<string, string>,
  count: number,
  connections = 50,
  deadlineMs = 120_000,
): Promise<Measured> {
  const target = new URL(url);
  const port = Number(target.port || 80);
  const requests = Array.from({ length: count }, (_, i) => {
    const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`];
    for (const [name, value] of Object.entries(headersOf(i))) lines.push(`${name}: ${value}`);
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
  });
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const deadline = Date.now() + deadlineMs;

  const worker = () =>
    new Promise<void>((resolve, reject) => {
      let socket: Socket;
      let pending: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      const send = () => {
        if (next >= requests.length || Date.now() > deadline) {
          socket.end();
          resolve();
          return;
        }
        sentAt = performance.now();
        socket.write(requests[next++] as Buffer);
      };
      const open = () => {
        socket = connect({ host: target.hostname, port, noDelay: true }, send);
        socket.on('data', (chunk: Buffer) => {
          pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
          for (;;) {
            const end = pending.indexOf('\r\n\r\n');
            if (end < 0) return;
            const head = pending.subarray(0, end).toString('latin1');
            const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
            if (pending.length < end + 4 + length) return;
            pending = pending.subarray(end + 4 + length);
            latencies.push(performance.now() - sentAt);
            if (head.slice(9, 12) !== '200') errors++;
            if (/\r\nconnection:\s*close/i.test(head)) {
              socket.destroy();
              open();
              return;
            }
            send();
          }
        });
        socket.on('error', reject);
      };
      open();
    });

  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(connections, count) }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors, count: latencies.length };
}
