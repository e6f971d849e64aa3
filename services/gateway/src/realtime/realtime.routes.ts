import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import websocket from '@fastify/websocket';
import { type AccessClaims, wireName } from '@gatehouse/contracts';
import {
  REALTIME_CLOSE,
  REALTIME_PATH,
  REALTIME_PROTOCOL,
  type RealtimeClientMessage,
} from '@gatehouse/contracts/realtime';
import { AppError } from '@gatehouse/kit';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { documentAuthRequired } from '../auth/authenticate.ts';
import { ACCESS_COOKIE, cookieValue } from '../auth/cookies.ts';
import type { TokenVerifier } from '../auth/token-verifier.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { errorResponses } from '../http/error-responses.ts';
import type { RealtimeHub, Subscriber } from './realtime-hub.ts';

/** A client message is an `auth` with a token or a `ping`: a few KiB at most. */
const MAX_CLIENT_MESSAGE_BYTES = 16 * 1024;

interface Admitted {
  claims: AccessClaims;
  projectId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the realtime route's check before the upgrade. */
    realtime: Admitted | null;
  }
}

export interface RealtimeOptions {
  ctx: GatewayContext;
  hub: RealtimeHub;
  verifier: TokenVerifier;
  /** ACCESS_TOKEN_TTL in ms: a revocation set stale longer than this vouches for no token. */
  maxStaleMs: number;
}

/**
 * `GET /auth/events`: the realtime channel (contracts/realtime.ts). The check
 * runs before the upgrade, as a Fastify preHandler, so a bad, expired or
 * revoked token, or one socket too many, is answered with the contract's
 * error body and status and no socket is opened.
 *
 * The WebSocket plugin is registered in this plugin's own scope, so its hooks
 * run for this route alone (a hook on every route is a cost on the hot path);
 * upgrades reach it through `upgrades` (see `routeUpgrades`).
 */
export const realtimeRoutes: FastifyPluginAsync<RealtimeOptions & { upgrades: EventEmitter }> = async (
  app,
  { ctx, hub, verifier, maxStaleMs, upgrades },
) => {
  await app.register(websocket, {
    options: {
      maxPayload: MAX_CLIENT_MESSAGE_BYTES,
      // A browser sends its token as the second subprotocol; the server answers with the first.
      handleProtocols: (protocols) => (protocols.has(REALTIME_PROTOCOL) ? REALTIME_PROTOCOL : false),
      // Messages are a few bytes: compression would cost memory per socket for nothing.
      perMessageDeflate: false,
      server: upgrades as never,
    },
    // The gateway stops: every client is told to go elsewhere (another replica answers).
    preClose(done) {
      hub.closeAll(REALTIME_CLOSE.going_away, 'the gateway is stopping');
      done();
    },
  });
  app.decorateRequest('realtime', null);
  app.addHook('onRoute', (route) => documentAuthRequired(route, false));

  async function admitSocket(request: FastifyRequest): Promise<void> {
    const { token, fromCookie } = credentialOf(request);
    if (!token) {
      throw new AppError(
        'unauthorized',
        `sign in first: send the access token as the subprotocols "${REALTIME_PROTOCOL}, <access_token>"`,
      );
    }
    if (request.project.secretKey) throw new AppError('forbidden', "a project's secret key has no realtime channel");
    // A cookie is sent by the browser whatever page opened the socket: only an allowed page's
    // socket may ride on it (cross-site WebSocket hijacking). A browser always sends Origin.
    const origin = request.headers.origin;
    if (fromCookie && origin !== undefined && !ctx.origins.has(origin)) {
      throw new AppError('forbidden', 'cross-site socket refused: the Origin is not allowed');
    }
    // A browser cannot name a project in a header here: the token's own audience does (the
    // channel only ever tells a token's user about themselves).
    const projectId = request.project.named ? request.project.id : (audienceOf(token) ?? request.project.id);
    const claims = await verifier.verify(token, projectId);
    refuseIfNotLive(claims);
    const release = hub.reserve(claims.sub, request.ip);
    if (!release) {
      throw new AppError(
        'rate_limited',
        `too many open realtime sockets for this user or address (at most ${ctx.config.realtimeSocketsPerUser} per user and ${ctx.config.realtimeSocketsPerIp} per address)`,
        { retryAfter: 5 },
      );
    }
    // Held until the connection is gone, whether or not the upgrade succeeds.
    request.raw.socket.once('close', release);
    request.realtime = { claims, projectId };
  }

  function refuseIfNotLive(claims: AccessClaims): void {
    if (ctx.revocations.has(claims.sid)) throw new AppError('unauthorized', 'this session has been revoked');
    if (ctx.revocations.staleForMs() > maxStaleMs) {
      throw new AppError('service_unavailable', 'the revocation list is out of date', { retryAfter: 2 });
    }
  }

  /** A client message on `sub`'s socket. */
  async function onMessage(sub: Subscriber, data: Buffer, isBinary: boolean): Promise<void> {
    sub.alive = true;
    const message = isBinary ? undefined : parseMessage(data.toString('utf8'));
    if (message === undefined) {
      hub.close(sub, REALTIME_CLOSE.bad_message, 'send {"type":"auth","token":...} or {"type":"ping"}');
      return;
    }
    if (message.type === 'ping') {
      hub.reply(sub, { type: 'pong' });
      return;
    }
    try {
      const claims = await verifier.verify(message.token, sub.projectId);
      if (claims.sub !== sub.userId || claims.sid !== sub.sessionId) {
        throw new AppError('unauthorized', 'the token is of another session');
      }
      refuseIfNotLive(claims);
      hub.renew(sub, claims.exp * 1000);
      hub.reply(sub, { type: 'auth_ok', expires_at: claims.exp });
    } catch (err) {
      const code = err instanceof AppError && err.code === 'service_unavailable' ? 'resync' : 'token_refused';
      hub.close(sub, REALTIME_CLOSE[code], err instanceof AppError ? wireName(err.code) : 'unauthorized');
    }
  }

  app.route({
    method: 'GET',
    url: REALTIME_PATH,
    schema: {
      tags: ['session'],
      summary: 'The realtime channel (WebSocket)',
      description:
        'Upgrades to a WebSocket that pushes the signed-in user\'s session events: `session_revoked`, `sessions_purged`, `account_deleted`, `password_changed` (contracts/realtime.ts). The access token goes in `Sec-WebSocket-Protocol: bearer, <access_token>` (a browser: `new WebSocket(url, ["bearer", token])`), in `Authorization`, or as the access cookie. A plain GET without `Upgrade: websocket` is 400.',
      response: errorResponses(400, 401, 403, 429, 503),
    },
    preHandler: async (request) => admitSocket(request),
    handler: async () => {
      throw new AppError('validation_failed', `${REALTIME_PATH} is a WebSocket: send Upgrade: websocket`);
    },
    wsHandler: (socket: WebSocket, request: FastifyRequest) => {
      const admitted = request.realtime;
      if (!admitted) {
        socket.close(REALTIME_CLOSE.token_refused, 'unauthorized');
        return;
      }
      const sub = hub.attach(socket, {
        userId: admitted.claims.sub,
        sessionId: admitted.claims.sid,
        projectId: admitted.projectId,
        expiresAt: admitted.claims.exp * 1000,
      });
      socket.on('pong', () => {
        sub.alive = true;
      });
      socket.on('message', (data: Buffer, isBinary: boolean) => void onMessage(sub, data, isBinary));
      socket.on('close', () => hub.detach(sub));
    },
  });
};

/**
 * Sends the server's upgrade requests for the realtime path to `upgrades` (the
 * WebSocket plugin listens there) and answers every other one 404 with the
 * contract's body: only one path is a WebSocket.
 */
export function routeUpgrades(app: FastifyInstance, upgrades: EventEmitter): void {
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?', 1)[0];
    if (path === REALTIME_PATH) {
      upgrades.emit('upgrade', request, socket, head);
      return;
    }
    const body = JSON.stringify({ error: 'not_found', message: `no WebSocket at ${path}` });
    socket.end(
      `HTTP/1.1 404 Not Found\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

export function upgradeEmitter(): EventEmitter {
  return new EventEmitter();
}

/** The access token of an upgrade: the `bearer, <token>` subprotocols, `Authorization: Bearer`, or the cookie. */
function credentialOf(request: FastifyRequest): { token: string | undefined; fromCookie: boolean } {
  const protocols = request.headers['sec-websocket-protocol'];
  if (typeof protocols === 'string') {
    const [first, second] = protocols.split(',').map((p) => p.trim());
    if (first === REALTIME_PROTOCOL && second) return { token: second, fromCookie: false };
  }
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    if (authorization.slice(0, 7).toLowerCase() !== 'bearer ') {
      throw new AppError('unauthorized', 'send Authorization: Bearer <access_token>');
    }
    return { token: authorization.slice(7).trim(), fromCookie: false };
  }
  const cookie = cookieValue(request, ACCESS_COOKIE);
  return { token: cookie, fromCookie: cookie !== undefined };
}

/** The unverified `aud` of a JWT (the verification that follows checks it). */
function audienceOf(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (!payload || payload.length > 8192) return undefined;
  try {
    const aud = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { aud?: unknown }).aud;
    return typeof aud === 'string' ? aud : undefined;
  } catch {
    return undefined;
  }
}

function parseMessage(text: string): RealtimeClientMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, token } = value as { type?: unknown; token?: unknown };
  if (type === 'ping') return { type };
  if (type === 'auth' && typeof token === 'string' && token.length > 0 && token.length <= 8192) {
    return { type, token };
  }
  return undefined;
}
