import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Shutdown } from './shutdown.ts';
import { recordSpan, tracingEnabled } from './tracing.ts';

/** The part of ioredis' options this helper sets (structurally ioredis' `RedisOptions`). */
export interface RedisSecurityOptions {
  tls?: ConnectionOptions;
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
 * Stack mode: the Redis of REDIS_URL for the service called `name`, ready.
 * It fails fast while Redis is down (a command errors at once, so callers
 * answer service_unavailable and the client retries) and reconnects forever
 * in the background (ioredis' default retry strategy). Closed on shutdown.
 */
export async function connectRedis(
  config: Pick<Config, 'redisUrl' | 'redisTlsCa'>,
  name: string,
  log: Logger,
  shutdown: Shutdown,
): Promise<Redis> {
  if (!config.redisUrl) throw new Error(`REDIS_URL is required when the ${name} service runs on its own`);
  const redis = new Redis(config.redisUrl, {
    ...redisOptions(config),
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
export function traceRedis(redis: Redis): Redis {
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], stream?: unknown) => {
    const result = (send as (c: typeof command, s?: unknown) => unknown)(command, stream);
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
  }) as Redis['sendCommand'];
  return redis;
}
