// A stand-in for the Gatehouse HTTP API, as a `fetch` function: enough of the contract (sign-in,
// refresh rotation, the session check, sign-out) for the SDK's unit tests, with every request
// recorded. Tokens are JWT-shaped (the SDK reads `sid` from them); this fake checks them by table.
import type { FetchLike, User } from '../src/index.ts';

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | undefined;
  credentials: RequestCredentials | undefined;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export function jwt(claims: Record<string, unknown>): string {
  return `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims)}.signature`;
}

export const USER: User = {
  id: '00000000-0000-7000-8000-00000000000a',
  email: 'ada@example.com',
  email_verified: false,
  name: 'Ada',
  avatar_url: null,
  role: 'user',
  metadata: {},
  mfa_enabled: false,
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:00.000Z',
};

export interface FakeOptions {
  /** How long a refresh takes (so that concurrent callers really overlap). */
  refreshDelayMs?: number;
  /** Answer sign-ins in cookie mode when asked (`auth_mode: "cookie"`). */
  expiresIn?: number;
}

export function fakeGatehouse(options: FakeOptions = {}) {
  let counter = 0;
  const calls: Recorded[] = [];
  /** access token → its session, while valid. */
  const access = new Map<string, string>();
  /** refresh token → its session and whether it was spent. */
  const refresh = new Map<string, { sid: string; spent: boolean }>();
  const revoked = new Set<string>();
  let user: User = { ...USER };
  const expiresIn = options.expiresIn ?? 900;

  const issue = (sid: string) => {
    counter++;
    const accessToken = jwt({ sub: user.id, sid, n: counter });
    const refreshToken = `rt-${counter}`;
    access.set(accessToken, sid);
    refresh.set(refreshToken, { sid, spent: false });
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: expiresIn,
      refresh_token: refreshToken,
      user,
    };
  };

  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
  const error = (status: number, code: string, message = code) => json(status, { error: code, message });

  const sessionOf = (headers: Record<string, string>) => {
    const auth = headers.authorization;
    if (!auth?.startsWith('Bearer ')) return null;
    const sid = access.get(auth.slice(7));
    return sid && !revoked.has(sid) ? sid : null;
  };

  const fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const headers = Object.fromEntries(
      Object.entries((init.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]),
    );
    const body = typeof init.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
    const method = init.method ?? 'GET';
    calls.push({ method, path: url.pathname + url.search, headers, body, credentials: init.credentials });
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'POST /auth/register':
        return json(201, issue(`sid-${counter + 1}`));
      case 'POST /auth/login':
        if (body?.password !== 'correct horse battery') return error(401, 'invalid_credentials');
        return json(200, issue(`sid-${counter + 1}`));
      case 'POST /auth/refresh': {
        if (options.refreshDelayMs) await new Promise((r) => setTimeout(r, options.refreshDelayMs));
        const held = refresh.get(String(body?.refresh_token));
        if (!held || held.spent || revoked.has(held.sid))
          return error(401, 'invalid_grant', 'the refresh token is not valid');
        held.spent = true;
        return json(200, issue(held.sid));
      }
      case 'GET /auth/me': {
        if (!sessionOf(headers)) return error(401, 'unauthorized', 'sign in first');
        return json(200, user);
      }
      case 'PATCH /auth/me': {
        if (!sessionOf(headers)) return error(401, 'unauthorized');
        user = { ...user, ...(body as Partial<User>) };
        return json(200, user);
      }
      case 'GET /auth/session': {
        const sid = sessionOf(headers);
        if (!sid) return error(401, 'unauthorized');
        return json(200, {
          session: {
            id: sid,
            user_id: user.id,
            role: 'user',
            amr: ['pwd'],
            expires_at: new Date(Date.now() + 900_000).toISOString(),
          },
        });
      }
      case 'POST /auth/logout': {
        const sid = sessionOf(headers);
        if (!sid) return error(401, 'unauthorized');
        revoked.add(sid);
        return new Response(null, { status: 204 });
      }
      case 'POST /auth/logout-all': {
        const sid = sessionOf(headers);
        if (!sid) return error(401, 'unauthorized');
        const all = new Set([...access.values()]);
        for (const s of all) revoked.add(s);
        return json(200, { sessions_revoked: all.size });
      }
      default:
        return error(404, 'not_found', `no route ${route}`);
    }
  };

  return {
    fetch,
    calls,
    callsTo: (method: string, path: string) => calls.filter((c) => c.method === method && c.path === path),
    /** The server stops accepting this access token (as if it expired, or its key rotated). */
    refuseAccess: (token: string) => access.delete(token),
    revokeSession: (sid: string) => revoked.add(sid),
    /** Spends every refresh token (a theft detected elsewhere): the next refresh is invalid_grant. */
    spendAllRefreshTokens: () => {
      for (const held of refresh.values()) held.spent = true;
    },
  };
}

/** Polls `ok` every 5 ms until it holds or `ms` pass. */
export async function until(ok: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A WebSocket stand-in: records what the client sends; the test plays the server. */
export function fakeWebSockets() {
  const sockets: FakeSocket[] = [];
  class FakeSocket {
    readyState = 0;
    readonly sent: Record<string, unknown>[] = [];
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: { code: number }) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    closedByClient: number | undefined;
    constructor(
      readonly url: string,
      readonly protocols?: string | string[],
    ) {
      sockets.push(this);
      setTimeout(() => {
        if (this.readyState !== 0) return;
        this.readyState = 1;
        this.onopen?.({});
      }, 1);
    }
    send(data: string): void {
      this.sent.push(JSON.parse(data) as Record<string, unknown>);
    }
    close(code?: number): void {
      this.closedByClient = code ?? 1000;
      this.readyState = 3;
      setTimeout(() => this.onclose?.({ code: code ?? 1000 }), 1);
    }
    /** The server sends an event. */
    push(event: Record<string, unknown>): void {
      this.onmessage?.({ data: JSON.stringify(event) });
    }
    /** The server closes the socket. */
    serverClose(code: number): void {
      this.readyState = 3;
      this.onclose?.({ code });
    }
  }
  return { WebSocket: FakeSocket, sockets };
}
