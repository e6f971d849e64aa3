import WebSocket from 'ws';

export interface Delivery {
  /** The gateway the sockets were on. */
  url: string;
  /** Events heard: one per revocation per socket. */
  n: number;
  /** Lost: a revocation whose event this gateway's socket did not hear within the bound. */
  lost: number;
  /** ms from the revoking call's answer to the event on the socket; 0 when it came first. */
  p50: number;
  p99: number;
  max: number;
}

const PASSWORD = 'correct horse battery';
/** An event not heard within this is counted lost (the contract's bound is 1 s). */
const BOUND_MS = 5_000;

async function post(url: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${url}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

function open(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/auth/events`, ['bearer', token]);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * How fast a revocation reaches the sockets of every gateway replica: `users`
 * users, each with two sessions; the second session's socket is open on every
 * gateway in `urls`; the first session is logged out through `urls[0]`, and
 * each socket's `session_revoked` is timed from the logout's answer.
 * `concurrency` logouts at a time, as traffic would bring them.
 */
export async function realtimeDelivery(
  urls: string[],
  users: number,
  concurrency = 10,
): Promise<{ sockets: Delivery[]; refusal: { n: number; p50: number; p99: number; max: number } | null }> {
  const [first] = urls;
  if (!first) throw new Error('no gateway');
  const heard = urls.map(() => [] as number[]);
  const lost = urls.map(() => 0);
  const sockets: WebSocket[] = [];
  /** ms from a logout's answer until another gateway refuses its token (0: at the first request). */
  const refused: number[] = [];
  /** The sessions still signed in at the end, logged out one at a time for the refusal timing. */
  const remaining: string[] = [];
  const stamp = `${Date.now()}`;
  try {
    const work = Array.from({ length: users }, (_, i) => i);
    const worker = async () => {
      for (let i = work.shift(); i !== undefined; i = work.shift()) {
        const email = `rt-bench-${stamp}-${i}@example.com`;
        const leaving = (await post(`${first}/auth/register`, { email, password: PASSWORD })).access_token as string;
        const staying = (await post(`${first}/auth/login`, { email, password: PASSWORD })).access_token as string;
        const sid = JSON.parse(Buffer.from(leaving.split('.')[1] ?? '', 'base64url').toString()).sid as string;
        // Each socket's arrival time of this revocation, or null when it never came.
        const arrivals = await Promise.all(
          urls.map(async (url) => {
            const ws = await open(url, staying);
            sockets.push(ws);
            // Wrapped, so that awaiting the opened sockets does not await their events.
            const wait = new Promise<number | null>((resolve) => {
              const timer = setTimeout(() => resolve(null), BOUND_MS);
              ws.on('message', (data) => {
                const event = JSON.parse(String(data)) as { type: string; session_id?: string };
                if (event.type !== 'session_revoked' || event.session_id !== sid) return;
                clearTimeout(timer);
                resolve(Date.now());
              });
            });
            return { wait };
          }),
        );
        await post(`${first}/auth/logout`, undefined, leaving);
        const answered = Date.now();
        remaining.push(staying);
        (await Promise.all(arrivals.map((a) => a.wait))).forEach((at, g) => {
          if (at === null) lost[g] = (lost[g] ?? 0) + 1;
          else (heard[g] as number[]).push(Math.max(0, at - answered));
        });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    // One logout at a time, nothing else running: from its answer at gateway A until gateway B
    // refuses the token (the revocation event reached B before the answer: 0 ms is the goal).
    const other = urls[1];
    if (other) {
      for (const token of remaining) {
        await post(`${first}/auth/logout`, undefined, token);
        refused.push(await refusedAfter(other, token, Date.now()));
      }
    }
  } finally {
    for (const ws of sockets) ws.terminate();
  }
  const delivered = urls.map((url, g) => {
    const sorted = [...(heard[g] as number[])].sort((a, b) => a - b);
    return {
      url,
      n: sorted.length,
      lost: lost[g] ?? 0,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? 0,
    };
  });
  const sorted = [...refused].sort((a, b) => a - b);
  const refusal = sorted.length
    ? { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? 0 }
    : null;
  return { sockets: delivered, refusal };
}

/** ms from `since` until `url` refuses `token` (401): polled at once and then every millisecond, 5 s at most. */
async function refusedAfter(url: string, token: string, since: number): Promise<number> {
  const end = since + BOUND_MS;
  while (Date.now() < end) {
    const res = await fetch(`${url}/auth/session`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    if (res.status === 401) return Math.max(0, Date.now() - since);
    await new Promise((r) => setTimeout(r, 1));
  }
  return BOUND_MS;
}
