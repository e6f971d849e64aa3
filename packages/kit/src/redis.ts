import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Shutdown } from './shutdown.ts';
import { recordSpan, tracingEnabled } from './tracing.ts';

/** A connection to the Redis of REDIS_URL: one server (standalone or Sentinel's primary) or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** The part of ioredis' options this helper sets (structurally ioredis' `RedisOptions`). */
export interface RedisSecurityOptions {
  tls?: ConnectionOptions;
}

/** What REDIS_URL names, parsed (see `parseRedisUrl`). */
export type RedisTarget =
  | { kind: 'standalone'; url: string }
  | {
      kind: 'sentinel' | 'cluster';
      tls: boolean;
      nodes: { host: string; port: number }[];
      username?: string;
      password?: string;
      /** Sentinel: the monitored primary's name. */
      name?: string;
      /** Sentinel: the sentinels' own password, when they have one (`?sentinel_password=`). */
      sentinelPassword?: string;
      /** Sentinel: the database number (`?db=`). */
      db?: number;
    };

const MULTI_HOST = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/?]*)@)?([^/?]+)(?:\/([^?]*))?(?:\?(.*))?$/;

/**
 * REDIS_URL's three forms:
 *   redis://[user:pass@]host:6379[/db]                        one server (`rediss://` for TLS)
 *   redis+sentinel://[user:pass@]s1:26379,s2:26379/mymaster    the primary Sentinel names `mymaster`,
 *        followed across failovers (`?sentinel_password=` when the sentinels require one, `?db=`)
 *   redis+cluster://[user:pass@]n1:6379,n2:6379               a Redis Cluster, from any of its nodes
 * `rediss+sentinel://` and `rediss+cluster://` use TLS to every node. Percent-encode special
 * characters in the user and password.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const m = MULTI_HOST.exec(url);
  if (!m) {
    if (!/^rediss?:\/\//.test(url))
      throw new Error('REDIS_URL: expected redis://, rediss://, redis+sentinel:// or redis+cluster://');
    return { kind: 'standalone', url };
  }
  const [, scheme, kind, auth, hosts, path, query] = m as unknown as [
    string,
    string,
    'sentinel' | 'cluster',
    string?,
    string?,
    string?,
    string?,
  ];
  const nodes = (hosts ?? '').split(',').map((hostPort) => {
    const hp = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort.trim());
    if (!hp) throw new Error(`REDIS_URL: bad host ${hostPort}`);
    return {
      host: (hp[1] as string).replace(/^\[|\]$/g, ''),
      port: Number(hp[2] ?? (kind === 'sentinel' ? 26379 : 6379)),
    };
  });
  const target: RedisTarget = { kind, tls: scheme === 'rediss', nodes };
  if (auth) {
    const colon = auth.indexOf(':');
    const user = decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon));
    if (user) target.username = user;
    if (colon >= 0) target.password = decodeURIComponent(auth.slice(colon + 1));
  }
  const params = new URLSearchParams(query ?? '');
  if (kind === 'sentinel') {
    const name = decodeURIComponent(path ?? '');
    if (!name) throw new Error('REDIS_URL: redis+sentinel:// needs the primary name as its path (…/mymaster)');
    target.name = name;
    const sentinelPassword = params.get('sentinel_password');
    if (sentinelPassword) target.sentinelPassword = sentinelPassword;
    const db = params.get('db');
    if (db) target.db = Number(db);
  } else if (path) {
    throw new Error('REDIS_URL: a Redis Cluster has one database, no path after its nodes');
  }
  return target;
}

/**
 * A client for REDIS_URL (any of its forms) with `options` (timeouts, queueing) applied to
 * every connection it makes. Not connected yet when returned; see `connectRedis`.
 */
export function createRedis(config: Pick<Config, 'redisUrl' | 'redisTlsCa'>, options: RedisOptions = {}): RedisClient {
  if (!config.redisUrl) throw new Error('REDIS_URL is not set');
  const target = parseRedisUrl(config.redisUrl);
  const security = redisOptions(config);
  if (target.kind === 'standalone') return new Redis(target.url, { ...security, ...options });
  const tls = security.tls ?? (target.tls ? {} : undefined);
  const auth = { username: target.username, password: target.password };
  if (target.kind === 'sentinel') {
    return new Redis({
      ...options,
      ...auth,
      sentinels: target.nodes,
      name: target.name as string,
      ...(target.db !== undefined ? { db: target.db } : {}),
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    });
  }
  const { enableOfflineQueue, lazyConnect, ...perNode } = options;
  return new Cluster(target.nodes, {
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    // Writes and the scripts' reads go to each slot's primary: a replica may lag behind a revocation.
    scaleReads: 'master',
    redisOptions: { ...perNode, ...auth, ...(tls ? { tls } : {}) },
    // With TLS, connect to the names the nodes announce as they are (no DNS rewriting of certificates' hosts).
    ...(tls
      ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) }
      : {}),
  });
}

/**
 * The Redis client options every service shares, for `new Redis(config.redisUrl, {...redisOptions(config), ...})`.
 * Credentials come from REDIS_URL itself, which ioredis reads: `redis://user:pass@host:6379` logs in
 * as an ACL user, `redis://:pass@host:6379` with `requirepass` (percent-encode special characters).
 * TLS: a `rediss://` URL (ioredis turns TLS on, checking the server against the system's CAs), or
 * REDIS_TLS_CA, the PEM file of a private CA, which implies TLS whatever the scheme. The CA file is
 * read now, so a missing one stops the service at start.
 */
export function redisOptions(config: Pick<Config, 'redisTlsCa'>): RedisSecurityOptions {
  if (!config.redisTlsCa) return {};
  let ca: Buffer;
  try {
    ca = readFileSync(config.redisTlsCa);
  } catch (err) {
    throw new Error(`REDIS_TLS_CA: cannot read ${config.redisTlsCa}`, { cause: err });
  }
  return { tls: { ca: [ca] } };
}

/**
 * Stack mode: the Redis of REDIS_URL (any of its forms, `parseRedisUrl`) for the service called `name`, ready.
 * It fails fast while Redis is down (a command errors at once, so callers
 * answer service_unavailable and the client retries) and reconnects forever
 * in the background (ioredis' default retry strategy). Closed on shutdown.
 */
export async function connectRedis(
  config: Pick<Config, 'redisUrl' | 'redisTlsCa'>,
  name: string,
  log: Logger,
  shutdown: Shutdown,
): Promise<RedisClient> {
  if (!config.redisUrl) throw new Error(`REDIS_URL is required when the ${name} service runs on its own`);
  const redis = createRedis(config, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2000,
    commandTimeout: 2000,
  });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  traceRedis(redis);
  shutdown.add('redis', () => redis.quit());
  // Without the offline queue nothing may be sent before the first connect.
  if (redis.status !== 'ready') {
    log.info('waiting for redis');
    await new Promise((resolve) => redis.once('ready', resolve));
  }
  return redis;
}

/**
 * Every command of `redis` as a span of the request's trace, while tracing is
 * on (ioredis has no hooks: its one way out, `sendCommand`, is wrapped).
 * While off, one boolean test per command.
 */
export function traceRedis<T extends RedisClient>(redis: T): T {
  const send = redis.sendCommand.bind(redis) as (...args: unknown[]) => unknown;
  redis.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], ...rest: unknown[]) => {
    const result = send(command, ...rest);
    if (tracingEnabled()) {
      const started = Date.now();
      const name = `redis ${command.name}`;
      const attributes = { 'db.system.name': 'redis', 'db.operation.name': command.name };
      command.promise.then(
        () => recordSpan(name, attributes, Date.now() - started),
        (err: unknown) => recordSpan(name, attributes, Date.now() - started, err),
      );
    }
    return result;
  }) as T['sendCommand'];
  return redis;
}
