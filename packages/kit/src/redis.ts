import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Config } from './config.ts';

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
