// Tiny HTTP helpers the OAuth test peers share: a 127.0.0.1 server, bodies, recorded requests,
// a cookie jar and the "browser" that walks a provider's authorization pages.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AuthorizeOptions, OAuthClient, RecordedRequest } from './types.ts';

/** Bounds every wait in these helpers: a request body, one browser hop, closing a server. */
export const WAIT_MS = 5_000;
/** The most redirects / pages the browser follows for one authorization. */
export const MAX_HOPS = 20;
const BODY_LIMIT = 64 * 1024;

/** A server listening on 127.0.0.1 on a port the system chose. */
export interface HttpServer {
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  close(): Promise<void>;
}

/** A request handler; what it throws becomes a 500 JSON answer. */
export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/** Listens on 127.0.0.1 port 0 with `handler`; resolves once it listens (or fails after WAIT_MS). */
export async function startHttpServer(handler: Handler): Promise<HttpServer> {
  const server = createServer((req, res) => {
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((error: unknown) => {
        if (res.headersSent || res.destroyed) {
          res.destroy();
          return;
        }
        sendJson(res, 500, { error: 'server_error', error_description: String(error) });
      });
  });
  const port = await listen(server);
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    close: () => closeServer(server),
  };
}

function listen(server: Server): Promise<number> {
  return withTimeout(
    'listen on 127.0.0.1',
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        if (typeof address === 'object' && address) resolve(address.port);
        else reject(new Error('the server has no port'));
      });
    }),
  );
}

function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return withTimeout('close the server', closed);
}

/** Rejects when `promise` has not settled within `ms`. */
export async function withTimeout<T>(what: string, promise: Promise<T>, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a request body (at most 64 KiB, within WAIT_MS). */
export function readBody(req: IncomingMessage): Promise<string> {
  return withTimeout(
    `read the body of ${req.method} ${req.url}`,
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > BODY_LIMIT) {
          reject(new Error('request body too large'));
          req.destroy();
        } else chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    }),
  );
}

/** Parses a form (`application/x-www-form-urlencoded`) or JSON object body into strings; anything else gives {}. */
export function parseBody(contentType: string | undefined, raw: string): Record<string, string> {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(raw));
  if (type === 'application/json' && raw.trim()) {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]),
    );
  }
  return {};
}

/** The request's URL, resolved against the server's origin. */
export function requestUrl(req: IncomingMessage, origin: string): URL {
  return new URL(req.url ?? '/', origin);
}

/** A request as the peers record it; header names lower case, repeated headers joined with ", ". */
export function recordOf(req: IncomingMessage, url: URL, body: Record<string, string>): RecordedRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    body,
    headers,
  };
}

/** Reads the body of `req` and records the request in `log`; returns the record. */
export async function receive(req: IncomingMessage, origin: string, log: RecordedRequest[]): Promise<RecordedRequest> {
  const url = requestUrl(req, origin);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const body = hasBody ? parseBody(req.headers['content-type'], await readBody(req)) : {};
  const record = recordOf(req, url, body);
  log.push(record);
  return record;
}

/** Answers JSON. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Answers an `application/x-www-form-urlencoded` body. */
export function sendForm(res: ServerResponse, status: number, body: Record<string, string>): void {
  const text = new URLSearchParams(body).toString();
  res.writeHead(status, {
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** Redirects (302 unless told). */
export function redirect(res: ServerResponse, location: string | URL, status = 302): void {
  res.writeHead(status, { location: String(location), 'content-length': 0, 'cache-control': 'no-store' });
  res.end();
}

/** `url` with `params` added to its query (undefined values left out). */
export function withQuery(url: string, params: Record<string, string | undefined>): URL {
  const result = new URL(url);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) result.searchParams.set(key, value);
  return result;
}

/** The token of an `Authorization: Bearer …` header (or of one of the other `schemes`, case-insensitive). */
export function authorizationToken(header: string | undefined, schemes: string[] = ['bearer']): string | undefined {
  const match = /^(\S+)\s+(\S+)$/.exec(header?.trim() ?? '');
  if (!match || !schemes.includes(match[1]!.toLowerCase())) return undefined;
  return match[2];
}

/** The client id and secret of an `Authorization: Basic …` header, each form-urlencoded as RFC 6749 §2.3.1 says. */
export function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const token = authorizationToken(header, ['basic']);
  if (!token) return undefined;
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const unescapePart = (part: string) => {
    try {
      return decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      return part;
    }
  };
  return { id: unescapePart(decoded.slice(0, colon)), secret: unescapePart(decoded.slice(colon + 1)) };
}

interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

/** Just enough of a browser's cookie jar for one host: names, values, paths and deletions. */
export class CookieJar {
  readonly #cookies: StoredCookie[] = [];

  /** Takes the `Set-Cookie` headers of a response to `url`. */
  store(url: URL, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';');
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const name = pair.slice(0, equals).trim();
      const value = pair.slice(equals + 1).trim();
      let path = url.pathname.slice(0, url.pathname.lastIndexOf('/')) || '/';
      let expired = false;
      for (const attribute of attributes) {
        const [key = '', val = ''] = attribute.split('=').map((part) => part.trim());
        const lower = key.toLowerCase();
        if (lower === 'path' && val.startsWith('/')) path = val;
        if (lower === 'max-age' && Number(val) <= 0) expired = true;
        if (lower === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      const existing = this.#cookies.findIndex((cookie) => cookie.name === name && cookie.path === path);
      if (existing >= 0) this.#cookies.splice(existing, 1);
      if (!expired) this.#cookies.push({ name, value, path });
    }
  }

  /** The `Cookie` header a browser sends to `url`, longer paths first. */
  header(url: URL): string {
    return this.#cookies
      .filter((cookie) => pathMatches(url.pathname, cookie.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/**
 * The page a peer shows the browser during an authorization (JSON instead of HTML): the browser posts `fields`
 * plus `login` (the account id) and `decision` (`allow` or `deny`) as a form to `action`.
 */
export interface PeerPage {
  prompt: 'login' | 'consent';
  action: string;
  fields: Record<string, string>;
}

function isPeerPage(value: unknown): value is PeerPage {
  if (typeof value !== 'object' || value === null) return false;
  const page = value as Record<string, unknown>;
  return (
    (page.prompt === 'login' || page.prompt === 'consent') &&
    typeof page.action === 'string' &&
    typeof page.fields === 'object' &&
    page.fields !== null
  );
}

/** The decision form the browser posts for `page`. */
export function decisionForm(page: PeerPage, options: AuthorizeOptions): Record<string, string> {
  if ('deny' in options) return { ...page.fields, decision: 'deny' };
  return { ...page.fields, login: options.as, decision: 'allow' };
}

/** True when `url` is (ignoring its query) one of the clients' registered redirect URIs. */
export function isRedirectUri(url: URL, clients: readonly OAuthClient[]): boolean {
  const target = url.origin + url.pathname;
  return clients.some((client) =>
    client.redirect_uris.some((uri) => {
      const registered = new URL(uri);
      return registered.origin + registered.pathname === target;
    }),
  );
}

/**
 * A browser at the provider: starts at `start`, follows redirects by hand (`redirect: 'manual'`, cookies carried),
 * answers each {@link PeerPage} with the decision of `options`, and returns the first redirect to one of the
 * clients' redirect URIs without fetching it. At most MAX_HOPS requests, each within WAIT_MS.
 */
export async function browse(
  start: string | URL,
  clients: readonly OAuthClient[],
  options: AuthorizeOptions,
): Promise<URL> {
  const jar = new CookieJar();
  let url = new URL(start);
  let init: { method: string; body?: string } = { method: 'GET' };
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const headers: Record<string, string> = { accept: 'application/json, text/html;q=0.5' };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (init.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(WAIT_MS) });
    jar.store(url, response.headers.getSetCookie());
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (isRedirectUri(next, clients)) return next;
      if (response.status !== 307 && response.status !== 308) init = { method: 'GET' };
      url = next;
      continue;
    }
    const text = await response.text();
    let page: unknown;
    try {
      page = JSON.parse(text);
    } catch {
      page = undefined;
    }
    if (response.status !== 200 || !isPeerPage(page)) {
      throw new Error(`authorize: ${init.method} ${url.pathname} answered ${response.status}: ${text.slice(0, 500)}`);
    }
    url = new URL(page.action, url);
    init = { method: 'POST', body: new URLSearchParams(decisionForm(page, options)).toString() };
  }
  throw new Error(`authorize: no redirect to a redirect_uri after ${MAX_HOPS} requests (last: ${url.href})`);
}
