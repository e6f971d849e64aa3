/**
 * The realtime channel, `GET /auth/events` (a WebSocket): what the server sends, what a client
 * may send, and the close codes. Plain TypeScript with no import, so the browser SDK can take
 * it whole (`@gatehouse/contracts/realtime`) without a runtime dependency.
 */

export const REALTIME_PATH = '/auth/events';

/**
 * A client that cannot set headers (a browser) authenticates with the subprotocols
 * `bearer, <access_token>`; the server selects `bearer`.
 */
export const REALTIME_PROTOCOL = 'bearer';

/** What the server sends: one JSON object per message. */
export type RealtimeEvent =
  /** One session of the user ended (logout, revoked by the user or an admin, refresh-token reuse). */
  | { type: 'session_revoked'; session_id: string; reason: string }
  /** Every session of the user ended at once (logout everywhere, a ban, a password reset). */
  | { type: 'sessions_purged'; reason: string }
  | { type: 'account_deleted' }
  | { type: 'password_changed' }
  /** The answer to a client's `auth`: the socket now lives until the new token's expiry. */
  | { type: 'auth_ok'; expires_at: number }
  /** The answer to a client's `ping`. */
  | { type: 'pong' };

export type RealtimeEventType = RealtimeEvent['type'];

/** The events that end the socket's own session: after them the server closes the socket. */
export type SessionEndingEvent = Extract<
  RealtimeEvent,
  { type: 'session_revoked' | 'sessions_purged' | 'account_deleted' }
>;

/** What a client may send. */
export type RealtimeClientMessage =
  /** A fresh access token of the same session, before the current one expires. */
  | { type: 'auth'; token: string }
  /** An application-level heartbeat (a browser cannot send WebSocket pings): answered by `pong`. */
  | { type: 'ping' };

/**
 * Why the server closed a socket. 1001 (going away) is the gateway shutting down and 1008
 * (policy) a message the server does not understand; the 4xxx codes are Gatehouse's own.
 * Every close but `session_ended` invites the client to reconnect (after a refresh for
 * `token_expired`).
 */
export const REALTIME_CLOSE = {
  /** The gateway is stopping: reconnect (another replica answers). */
  going_away: 1001,
  /** A message that is not JSON, too large, or of an unknown type. */
  bad_message: 1008,
  /** The socket's access token expired and no fresh one came (`auth`): refresh, then reconnect. */
  token_expired: 4001,
  /** A fresh token that is invalid, revoked, or of another session than the socket's. */
  token_refused: 4003,
  /** The socket's own session ended (the event before the close says how): do not reconnect. */
  session_ended: 4004,
  /** The client did not read its messages fast enough: reconnect and re-check the session. */
  slow_consumer: 4008,
  /** The gateway lost its bus and cannot vouch for the events it missed: reconnect and re-check. */
  resync: 4012,
} as const;

export type RealtimeCloseCode = (typeof REALTIME_CLOSE)[keyof typeof REALTIME_CLOSE];
