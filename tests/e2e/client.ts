import { randomUUID } from 'node:crypto';

/** A minimal HTTP client for driving a running Gatehouse the way a user would. */
export interface Res {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { [k: string]: unknown };
}

export function client(baseUrl: string, options: { ip?: string; userAgent?: string } = {}) {
  // Each client speaks from its own address (the servers under test trust X-Forwarded-For),
  // so per-IP limits of one test do not spill into another.
  const ip = options.ip ?? `10.${rnd()}.${rnd()}.${rnd()}`;
  async function call(method: string, path: string, body?: unknown, token?: string, raw?: string): Promise<Res> {
    const headers: Record<string, string> = { 'x-forwarded-for': ip };
    if (options.userAgent) headers['user-agent'] = options.userAgent;
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(baseUrl + path, {
      method,
      headers,
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
  }
  return {
    ip,
    get: (path: string, token?: string) => call('GET', path, undefined, token),
    post: (path: string, body?: unknown, token?: string) => call('POST', path, body, token),
    patch: (path: string, body: unknown, token?: string) => call('PATCH', path, body, token),
    del: (path: string, token?: string, body?: unknown) => call('DELETE', path, body, token),
    raw: (method: string, path: string, raw: string) => call(method, path, undefined, undefined, raw),
  };
}

export type Client = ReturnType<typeof client>;

const rnd = () => Math.floor(Math.random() * 250) + 1;

export const uniqueEmail = (tag = 'user') => `${tag}-${randomUUID().slice(0, 8)}@example.com`;

/** The decoded payload of a JWT (no verification: the tests verify separately). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'));
}

/** Polls `ok` until it holds or `ms` pass. */
export async function eventually(ok: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in time');
}
