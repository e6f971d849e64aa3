import { REALTIME_CLOSE, type RealtimeCloseCode, type RealtimeEvent } from '@gatehouse/contracts/realtime';

/** What the hub needs of a socket (a `ws` WebSocket): so it can be unit-tested with a fake. */
export interface HubSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
}

export interface RealtimeLimits {
  /** Sockets per user on this replica. */
  perUser: number;
  /** Sockets per client address on this replica. */
  perIp: number;
  /** Bytes waiting for one socket, past which it is dropped. */
  maxBufferedBytes: number;
}

/** One open socket: whose, which session, until when its token lets it live. */
export interface Subscriber {
  readonly socket: HubSocket;
  readonly userId: string;
  readonly sessionId: string;
  readonly projectId: string;
  /** The access token's expiry (epoch ms); a fresh token (`auth`) moves it. */
  expiresAt: number;
  /** Answered the last ping (or sent something) since it was sent. */
  alive: boolean;
  expiry: NodeJS.Timeout | undefined;
}

const OPEN = 1;
/** A closing socket that does not finish the close handshake in this time is cut. */
const CLOSE_GRACE_MS = 2_000;
/** setTimeout's limit; a token that lives longer is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The realtime sockets of one gateway replica, by user, and the fan-out of the
 * user events every replica hears on the bus: each replica delivers to its own
 * sockets, so a socket on gateway B hears a revocation made through gateway A.
 *
 * Sending never buffers without bound: a socket with more than
 * `maxBufferedBytes` waiting is dropped (`slow_consumer`). A socket whose own
 * session an event ends is closed right after that event (`session_ended`);
 * every other socket of the user hears it and stays open.
 */
export class RealtimeHub {
  readonly #byUser = new Map<string, Set<Subscriber>>();
  /** Places held per user and per address: open sockets and upgrades under way. */
  readonly #heldByUser = new Map<string, number>();
  readonly #heldByIp = new Map<string, number>();
  readonly #limits: RealtimeLimits;
  readonly #now: () => number;

  constructor(limits: RealtimeLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /**
   * Holds a place for one more socket of `userId` from `ip`, before the upgrade,
   * so concurrent upgrades cannot pass a limit together. Returns its release
   * (call it once the connection is gone, upgraded or not; a second call does
   * nothing), or null when a limit is reached.
   */
  reserve(userId: string, ip: string): (() => void) | null {
    if ((this.#heldByUser.get(userId) ?? 0) >= this.#limits.perUser) return null;
    if ((this.#heldByIp.get(ip) ?? 0) >= this.#limits.perIp) return null;
    bump(this.#heldByUser, userId, 1);
    bump(this.#heldByIp, ip, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      bump(this.#heldByUser, userId, -1);
      bump(this.#heldByIp, ip, -1);
    };
  }

  /** Registers an upgraded socket; it is removed by `detach` (its close) or by the hub closing it. */
  attach(
    socket: HubSocket,
    who: { userId: string; sessionId: string; projectId: string; expiresAt: number },
  ): Subscriber {
    const sub: Subscriber = { socket, ...who, alive: true, expiry: undefined };
    let set = this.#byUser.get(who.userId);
    if (!set) {
      set = new Set();
      this.#byUser.set(who.userId, set);
    }
    set.add(sub);
    this.#armExpiry(sub);
    return sub;
  }

  /** The socket closed (either side): forget it. */
  detach(sub: Subscriber): void {
    clearTimeout(sub.expiry);
    const set = this.#byUser.get(sub.userId);
    if (!set?.delete(sub)) return;
    if (set.size === 0) this.#byUser.delete(sub.userId);
  }

  /** A fresh token of the socket's session: it lives until `expiresAt` now. */
  renew(sub: Subscriber, expiresAt: number): void {
    sub.expiresAt = expiresAt;
    this.#armExpiry(sub);
  }

  /** `events.session.revoked`: one event per session to every socket of the user, or one purge. */
  sessionsRevoked(event: { user_id: string; session_ids: string[]; reason: string; all?: boolean }): void {
    const subs = this.#byUser.get(event.user_id);
    if (!subs) return;
    if (event.all) {
      this.#toAll(subs, { type: 'sessions_purged', reason: event.reason }, () => true);
      return;
    }
    const ended = new Set(event.session_ids);
    for (const sub of [...subs]) {
      for (const id of event.session_ids) {
        if (!this.#send(sub, { type: 'session_revoked', session_id: id, reason: event.reason })) break;
      }
      if (ended.has(sub.sessionId)) this.#close(sub, REALTIME_CLOSE.session_ended, 'session revoked');
    }
  }

  /** `events.user.deleted`: the account is gone, and with it every session. */
  accountDeleted(userId: string): void {
    const subs = this.#byUser.get(userId);
    if (subs) this.#toAll(subs, { type: 'account_deleted' }, () => true);
  }

  /** `events.user.password_changed`: heard by every socket; the sessions it ends come as their own events. */
  passwordChanged(userId: string): void {
    const subs = this.#byUser.get(userId);
    if (subs) this.#toAll(subs, { type: 'password_changed' }, () => false);
  }

  /** Sends `event` to one socket (an answer to its own message). */
  reply(sub: Subscriber, event: RealtimeEvent): void {
    this.#send(sub, event);
  }

  /** Closes one socket with `code`, forgetting it now. */
  close(sub: Subscriber, code: RealtimeCloseCode, reason: string): void {
    this.#close(sub, code, reason);
  }

  /** Closes every socket (the bus was lost and found again, or the gateway stops). */
  closeAll(code: RealtimeCloseCode, reason: string): void {
    for (const subs of [...this.#byUser.values()]) for (const sub of [...subs]) this.#close(sub, code, reason);
  }

  /**
   * One heartbeat: a socket that has not answered the previous ping (nor sent
   * anything) since is cut; every other is pinged. Returns how many were cut.
   */
  heartbeat(): number {
    let cut = 0;
    for (const subs of [...this.#byUser.values()]) {
      for (const sub of [...subs]) {
        if (!sub.alive) {
          this.detach(sub);
          sub.socket.terminate();
          cut++;
          continue;
        }
        sub.alive = false;
        if (sub.socket.readyState === OPEN) sub.socket.ping();
      }
    }
    return cut;
  }

  /** Open sockets on this replica. */
  get size(): number {
    let n = 0;
    for (const subs of this.#byUser.values()) n += subs.size;
    return n;
  }

  /** Open sockets of one user on this replica. */
  socketsOf(userId: string): number {
    return this.#byUser.get(userId)?.size ?? 0;
  }

  #toAll(subs: Set<Subscriber>, event: RealtimeEvent, ends: (sub: Subscriber) => boolean): void {
    for (const sub of [...subs]) {
      if (this.#send(sub, event) && ends(sub)) this.#close(sub, REALTIME_CLOSE.session_ended, event.type);
    }
  }

  /** False when the socket is gone or was dropped for not reading. */
  #send(sub: Subscriber, event: RealtimeEvent): boolean {
    if (sub.socket.readyState !== OPEN) return false;
    if (sub.socket.bufferedAmount > this.#limits.maxBufferedBytes) {
      this.#close(sub, REALTIME_CLOSE.slow_consumer, 'too slow: messages were not read');
      return false;
    }
    sub.socket.send(JSON.stringify(event));
    return true;
  }

  #close(sub: Subscriber, code: RealtimeCloseCode, reason: string): void {
    this.detach(sub);
    if (sub.socket.readyState === OPEN) sub.socket.close(code, reason);
    // A peer that does not answer the close (or cannot: it does not read) is cut.
    setTimeout(() => sub.socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  #armExpiry(sub: Subscriber): void {
    clearTimeout(sub.expiry);
    const wait = sub.expiresAt - this.#now();
    if (wait <= 0) {
      this.#close(sub, REALTIME_CLOSE.token_expired, 'the access token expired: send a fresh one');
      return;
    }
    sub.expiry = setTimeout(() => this.#armExpiry(sub), Math.min(wait, MAX_TIMER_MS));
    sub.expiry.unref();
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
