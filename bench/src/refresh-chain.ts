import { Agent, request } from 'node:http';

/**
 * Refresh load as real clients make it: each worker owns one session and
 * always presents the refresh token it was given last. (autocannon reuses a
 * prepared request, which would replay rotated tokens and trip reuse detection.)
 */
export async function refreshChains(
  url: string,
  tokens: string[],
  seconds: number,
  /** Where to keep the access tokens the refreshes hand out (never used yet: cold tokens). */
  collect?: string[],
): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: tokens.length });
  const end = Date.now() + seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  const post = (token: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const body = JSON.stringify({ refresh_token: token });
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c) => {
            data += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const worker = async (first: string) => {
    let token = first;
    while (Date.now() < end) {
      const t = performance.now();
      const res = await post(token);
      latencies.push(performance.now() - t);
      if (res.status !== 200) {
        errors++;
        return; // a broken chain stays broken: count it and stop this worker
      }
      const answer = JSON.parse(res.body) as { refresh_token: string; access_token: string };
      token = answer.refresh_token;
      collect?.push(answer.access_token);
    }
  };
  const started = performance.now();
  await Promise.all(tokens.map(worker));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors };
}
