import {
  REALTIME_CLOSE,
  REALTIME_PATH,
  type RealtimeClientMessage,
  type RealtimeEvent,
} from '@gatehouse/contracts/realtime';
import { type BackoffOptions, backoffDelay } from './backoff.ts';
import { unref } from './random.ts';

/** What the SDK uses of a WebSocket (the browser's, Node 22's, or the `ws` package's). */
interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or `ws`'s default export. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

type WithOptions = new (url: string, protocols?: string | string[], options?: unknown) => WebSocketLike;

const OPEN = 1;

/** The WebSocket to use: the option, else the global one, else the optional peer `ws` (Node 20). */
export async function resolveWebSocket(option?: WebSocketConstructor): Promise<WebSocketConstructor | null> {
  if (option) return option;
  const global = (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof global === 'function') return global;
  try {
    // A variable, so that browser bundlers leave the Node-only peer alone.
    const name = 'ws';
    const mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as {
      default?: WebSocketConstructor;
      WebSocket?: WebSocketConstructor;
    };
    return mod.default ?? mod.WebSocket ?? null;
  } catch {
    return null;
  }
}

/** How to open the next socket, decided after the session was checked; null: signed out, stay closed. */
export interface Connection {
  /** The subprotocols: `['bearer', <access_token>]` in token mode; none in cookie mode. */
  protocols: string[] | undefined;
  /** The socket's own session: its `session_revoked` ends the session. */
  sessionId: string;
}

export interface RealtimeOptions {
  /** The Gatehouse base URL (http or https). */
  url: string;
  WebSocket?: WebSocketConstructor | undefined;
  /** Headers for the upgrade where the WebSocket takes them (`ws` in Node): X-API-Key. */
  headers?: Record<string, string>;
  /** Checks the session (GET /auth/session, refreshing if needed) before every connect. */
  prepare(): Promise<Connection | null>;
  /** Every event the server sends. */
  onEvent(event: RealtimeEvent): void;
  /** The socket's own session ended (its event, or the close code `session_ended`). */
  onSessionEnded(reason: string): void;
  /** Connected or not (for the app's status indicator). */
  onStatus?(status: RealtimeStatus): void;
  reconnect?: BackoffOptions | undefined;
  /** App-level heartbeat: `ping` every `intervalMs` (25 s), a socket silent `timeoutMs` (10 s) after it is dropped. */
  ping?: { intervalMs?: number; timeoutMs?: number } | undefined;
}

export type RealtimeStatus = 'connecting' | 'open' | 'reconnecting' | 'stopped';

/** A socket open longer than this had worked: the next failure starts the backoff over. */
const STABLE_MS = 10_000;

/**
 * The realtime channel of one signed-in client: connects, re-authenticates after refreshes,
 * keeps a heartbeat, reconnects with backoff (re-checking the session first), and says when the
 * session ended.
 */
export class Realtime {
  readonly #options: RealtimeOptions;
  #running = false;
  /** Bumped by every stop: work begun before it is dropped. */
  #generation = 0;
  #socket: WebSocketLike | null = null;
  #sessionId: string | null = null;
  #attempt = 0;
  #openedAt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #pongTimer: ReturnType<typeof setTimeout> | undefined;
  #status: RealtimeStatus = 'stopped';
  #unavailable = false;

  constructor(options: RealtimeOptions) {
    this.#options = options;
  }

  get status(): RealtimeStatus {
    return this.#status;
  }

  /** The session the open socket belongs to. */
  get sessionId(): string | null {
    return this.#sessionId;
  }

  start(): void {
    if (this.#running || this.#unavailable) return;
    this.#running = true;
    this.#setStatus('connecting');
    void this.#connect(this.#generation);
  }

  stop(): void {
    this.#running = false;
    this.#generation++;
    clearTimeout(this.#reconnectTimer);
    this.#stopPing();
    const socket = this.#socket;
    this.#socket = null;
    this.#sessionId = null;
    this.#attempt = 0;
    if (socket) closeQuietly(socket, 1000);
    this.#setStatus('stopped');
  }

  /** Sends a fresh access token of the same session (after a refresh), so the socket outlives the old one. */
  sendAuth(token: string): void {
    this.#send({ type: 'auth', token });
  }

  #send(message: RealtimeClientMessage): boolean {
    const socket = this.#socket;
    if (!socket || socket.readyState !== OPEN) return false;
    try {
      socket.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  }

  #setStatus(status: RealtimeStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    this.#options.onStatus?.(status);
  }

  async #connect(generation: number): Promise<void> {
    let connection: Connection | null;
    try {
      connection = await this.#options.prepare();
    } catch {
      // The check got no answer (offline, 503): try again later.
      if (generation === this.#generation) this.#reconnectLater(generation);
      return;
    }
    if (generation !== this.#generation || !this.#running) return;
    if (!connection) {
      this.stop();
      return;
    }
    const Ctor = (await resolveWebSocket(this.#options.WebSocket)) as WithOptions | null;
    if (generation !== this.#generation || !this.#running) return;
    if (!Ctor) {
      // No WebSocket here (Node 20 without `ws`): realtime stays off, the rest works.
      this.#unavailable = true;
      this.stop();
      return;
    }
    let socket: WebSocketLike;
    try {
      const headers = this.#options.headers ?? {};
      socket =
        Object.keys(headers).length > 0
          ? new Ctor(this.#socketUrl(), connection.protocols, { headers })
          : new Ctor(this.#socketUrl(), connection.protocols);
    } catch {
      this.#reconnectLater(generation);
      return;
    }
    this.#socket = socket;
    this.#sessionId = connection.sessionId;
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      this.#openedAt = Date.now();
      this.#setStatus('open');
      this.#startPing(socket);
    };
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return;
      this.#receive(event.data);
    };
    socket.onerror = () => {
      // A close follows.
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#closed(event.code, generation);
    };
  }

  #socketUrl(): string {
    const url = new URL(REALTIME_PATH, `${this.#options.url.replace(/\/+$/, '')}/`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.toString();
  }

  #receive(data: unknown): void {
    clearTimeout(this.#pongTimer);
    this.#pongTimer = undefined;
    let event: RealtimeEvent;
    try {
      event = JSON.parse(typeof data === 'string' ? data : String(data)) as RealtimeEvent;
    } catch {
      return;
    }
    if (typeof event !== 'object' || event === null || typeof event.type !== 'string') return;
    this.#options.onEvent(event);
    const ended =
      (event.type === 'session_revoked' && event.session_id === this.#sessionId) ||
      event.type === 'sessions_purged' ||
      event.type === 'account_deleted';
    if (ended) this.#end(event.type);
  }

  #end(reason: string): void {
    this.stop();
    this.#options.onSessionEnded(reason);
  }

  #closed(code: number, generation: number): void {
    this.#stopPing();
    if (!this.#running || generation !== this.#generation) return;
    if (this.#openedAt !== 0 && Date.now() - this.#openedAt >= STABLE_MS) this.#attempt = 0;
    this.#openedAt = 0;
    this.#sessionId = null;
    if (code === REALTIME_CLOSE.session_ended) {
      // The server ended the socket's session (the event before said how): never reconnect.
      this.#end('session_ended');
      return;
    }
    this.#reconnectLater(generation);
  }

  #reconnectLater(generation: number): void {
    if (!this.#running || generation !== this.#generation) return;
    this.#setStatus('reconnecting');
    const delay = backoffDelay(this.#attempt++, this.#options.reconnect);
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = unref(
      setTimeout(() => {
        if (this.#running && generation === this.#generation) void this.#connect(generation);
      }, delay),
    );
  }

  #startPing(socket: WebSocketLike): void {
    this.#stopPing();
    const interval = this.#options.ping?.intervalMs ?? 25_000;
    const timeout = this.#options.ping?.timeoutMs ?? 10_000;
    this.#pingTimer = unref(
      setInterval(() => {
        if (this.#socket !== socket || !this.#send({ type: 'ping' })) return;
        if (this.#pongTimer !== undefined) return;
        this.#pongTimer = unref(
          setTimeout(() => {
            this.#pongTimer = undefined;
            if (this.#socket !== socket) return;
            // No answer: the connection is dead without a close (a laptop that slept, a dropped
            // route). Drop it now rather than wait for the close handshake, and reconnect.
            this.#socket = null;
            socket.onclose = null;
            socket.onmessage = null;
            socket.onerror = () => {};
            if (socket.terminate) socket.terminate();
            else closeQuietly(socket, 4000);
            this.#closed(1006, this.#generation);
          }, timeout),
        );
      }, interval),
    );
  }

  #stopPing(): void {
    clearInterval(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    this.#pingTimer = undefined;
    this.#pongTimer = undefined;
  }
}

function closeQuietly(socket: WebSocketLike, code: number): void {
  socket.onclose = null;
  socket.onmessage = null;
  socket.onopen = null;
  // `ws` raises an error for a close before the handshake ended: it must have a listener.
  socket.onerror = () => {};
  try {
    socket.close(code);
  } catch {
    // Closing a socket that is still connecting can throw in some implementations.
  }
}
