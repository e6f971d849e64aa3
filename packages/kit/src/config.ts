import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { oauthProviders } from './oauth-config.ts';

/** Argon2id parameters, parsed from `PASSWORD_HASH` (`argon2id:m=19456,t=2,p=1`). */
export interface PasswordHashParams {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/**
 * Every setting of Gatehouse, from the environment variables named in the
 * configuration contract: the type of what `loadConfig` reads, so the two
 * cannot disagree. `loadConfig` is the only reader of `process.env` (main.ts
 * passes it in); it fails fast on a bad value.
 */
export type Config = ReturnType<typeof loadConfig>;

type Env = Record<string, string | undefined>;

class ConfigError extends Error {}

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * TRUST_PROXY: `false` (the default), a hop count (`1`: one load balancer in
 * front; `true` means the same), or a comma-separated list of proxy addresses
 * and CIDRs (`10.0.0.0/8,fd00::/8`, or proxy-addr's names `loopback`,
 * `linklocal`, `uniquelocal`). Never "trust whatever the client says": the
 * leftmost X-Forwarded-For entry is the client's own claim.
 */
export function trustProxy(raw: string | undefined): false | number | string[] {
  const value = raw?.trim().toLowerCase() ?? '';
  if (['', '0', 'false', 'no', 'off'].includes(value)) return false;
  if (['true', 'yes', 'on'].includes(value)) return 1;
  if (/^\d+$/.test(value)) return Number(value);
  const entries = list(value);
  const names = new Set(['loopback', 'linklocal', 'uniquelocal']);
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (!(names.has(entry) || (family !== 0 && okBits && extra === undefined))) {
      throw new ConfigError(`TRUST_PROXY must be false, a hop count, or proxy addresses/CIDRs, got "${entry}"`);
    }
  }
  return entries;
}

/** Parses `argon2id:m=19456,t=2,p=1`. */
export function parsePasswordHash(raw: string): PasswordHashParams {
  const match = /^argon2id:m=(\d+),t=(\d+),p=(\d+)$/.exec(raw.trim());
  if (!match) throw new ConfigError(`PASSWORD_HASH must look like argon2id:m=19456,t=2,p=1, got "${raw}"`);
  const [memoryCost, timeCost, parallelism] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // The default, m=19456 (19 MiB), t=2, is one of OWASP's equivalent minimums for argon2id
  // (m=47104,t=1; m=19456,t=2; m=12288,t=3; m=9216,t=4; m=7168,t=5): production should stay
  // at or above one of them. What we refuse is only the plainly broken, below 8 MiB (the
  // tests hash at m=8192,t=1 for speed); between the two is the operator's choice.
  if (memoryCost < 8192 || timeCost < 1 || parallelism < 1) throw new ConfigError('PASSWORD_HASH parameters too weak');
  return { memoryCost, timeCost, parallelism };
}

function secretKey(raw: string | undefined): Buffer | undefined {
  if (!raw) return undefined;
  const key = Buffer.from(raw, 'base64');
  if (key.length < 32) throw new ConfigError('SECRET_KEY must be at least 32 random bytes, base64 encoded');
  return key.subarray(0, 32);
}

/** SECRET_KEY_PREVIOUS: comma-separated base64 keys, each like SECRET_KEY. */
function previousSecretKeys(raw: string | undefined): Buffer[] {
  return list(raw).map((item, i) => {
    const key = Buffer.from(item, 'base64');
    if (key.length < 32)
      throw new ConfigError(`SECRET_KEY_PREVIOUS entry ${i + 1} must be at least 32 random bytes, base64`);
    return key.subarray(0, 32);
  });
}

/** NATS_NKEY, NATS_CREDS and NATS_TLS_*: credentials and TLS files for NATS (read when connecting). */
function natsSecuritySettings(env: Env) {
  const nkey = env.NATS_NKEY?.trim() || undefined;
  const creds = env.NATS_CREDS || undefined;
  if (nkey && creds) throw new ConfigError('set NATS_NKEY or NATS_CREDS, not both');
  const cert = env.NATS_TLS_CERT || undefined;
  const key = env.NATS_TLS_KEY || undefined;
  if (Boolean(cert) !== Boolean(key)) throw new ConfigError('NATS_TLS_CERT and NATS_TLS_KEY must be set together');
  return {
    /** NATS_NKEY: an nkey user seed (`SU...`), or the path of a file holding one. A seed stays as given. */
    natsNkey: nkey && !/^SU[A-Z2-7]{56}$/.test(nkey) ? resolve(nkey) : nkey,
    /** NATS_CREDS: path of a `.creds` file (decentralized JWT auth). */
    natsCreds: creds ? resolve(creds) : undefined,
    /** NATS_TLS_CA: path of a PEM CA file for the NATS server's certificate; implies TLS. */
    natsTlsCa: env.NATS_TLS_CA ? resolve(env.NATS_TLS_CA) : undefined,
    /** NATS_TLS_CERT + NATS_TLS_KEY: paths of a client certificate and key (mutual TLS). */
    natsTlsCert: cert ? resolve(cert) : undefined,
    natsTlsKey: key ? resolve(key) : undefined,
  };
}

/**
 * The process environment, with the variables of `./.env` (if there is one)
 * added underneath: a variable set in the environment wins over the file, as
 * with Node's --env-file. For development; production sets real variables.
 */
export function environment(file = '.env'): Record<string, string | undefined> {
  // Node's loader never overwrites a variable that is already set.
  if (existsSync(file)) process.loadEnvFile(file);
  return process.env;
}

function signingAlg(raw = 'ES256'): 'ES256' | 'EdDSA' {
  if (raw === 'ES256' || raw === 'EdDSA') return raw;
  throw new ConfigError('SIGNING_ALG must be ES256 or EdDSA');
}

/** Reads the configuration; throws with a clear message on a bad value. */
export function loadConfig(env: Env) {
  const port = int(env, 'PORT', 8080, 0);
  const publicUrl = (env.PUBLIC_URL || `http://localhost:${port}`).replace(/\/+$/, '');
  try {
    new URL(publicUrl);
  } catch {
    throw new ConfigError(`PUBLIC_URL must be an absolute URL, got "${publicUrl}"`);
  }
  const allow = list(env.REDIRECT_ALLOWLIST);
  const loginFailures = int(env, 'LOGIN_FAILURES_PER_ACCOUNT', 10, 1);
  const busTimeoutMs = int(env, 'BUS_TIMEOUT_MS', 5000, 100);
  // A slow provider must end in a redirect to the app with ?error=, which identity can only send
  // while the gateway still waits for its answer: the provider's time is well inside the bus's.
  const oauthTimeoutMs = int(env, 'OAUTH_TIMEOUT_MS', Math.min(3000, Math.floor(busTimeoutMs / 2)), 100);
  if (oauthTimeoutMs >= busTimeoutMs) {
    throw new ConfigError(
      `OAUTH_TIMEOUT_MS (${oauthTimeoutMs}) must be below BUS_TIMEOUT_MS (${busTimeoutMs}): a slow provider must end in a redirect, not a timed-out request`,
    );
  }
  return {
    port,
    host: env.HOST || '127.0.0.1',
    publicUrl,
    dataDir: resolve(env.DATA_DIR || './.gatehouse'),
    databaseUrl: env.DATABASE_URL || undefined,
    /** REDIS_URL: `redis://[user:pass@]host:port` (an ACL user, or `:pass@` for requirepass); `rediss://` for TLS. */
    redisUrl: env.REDIS_URL || undefined,
    /** REDIS_TLS_CA: path of a PEM CA file for Redis' certificate (a private CA); implies TLS. */
    redisTlsCa: env.REDIS_TLS_CA ? resolve(env.REDIS_TLS_CA) : undefined,
    /** NATS_URL: comma-separated `nats://` or `tls://` URLs, optionally `user:pass@` or `token@`. */
    natsUrl: env.NATS_URL || undefined,
    ...natsSecuritySettings(env),
    smtpUrl: env.SMTP_URL || undefined,
    mailFrom: env.MAIL_FROM || 'Gatehouse <no-reply@localhost>',
    /** A directory whose `<template>/{subject.txt,body.html,body.txt}` files override the built-in mail templates. */
    mailTemplatesDir: env.MAIL_TEMPLATES_DIR ? resolve(env.MAIL_TEMPLATES_DIR) : undefined,
    /** Mails per address per hour (verification, reset, magic link) before 429. */
    mailPerAddressPerHour: int(env, 'MAIL_PER_ADDRESS_PER_HOUR', 5, 1),
    accessTokenTtl: int(env, 'ACCESS_TOKEN_TTL', 900, 1),
    refreshTokenTtl: int(env, 'REFRESH_TOKEN_TTL', 604800, 1),
    sessionMaxAge: int(env, 'SESSION_MAX_AGE', 2592000, 1),
    refreshReuseInterval: int(env, 'REFRESH_REUSE_INTERVAL', 10, 0),
    /** Seconds a gateway serves a user's cached profile (`GET /auth/me`) at most between events; 0: no cache. */
    profileCacheTtl: int(env, 'PROFILE_CACHE_TTL', 30, 0),
    /** Worker threads a gateway checks new tokens' signatures on (one per core, at most 4); 0: on its event loop. */
    verifyThreads: int(env, 'VERIFY_THREADS', Math.min(4, availableParallelism()), 0),
    requireEmailVerification: bool(env, 'REQUIRE_EMAIL_VERIFICATION', false),
    adminEmail: env.ADMIN_EMAIL || undefined,
    adminPassword: env.ADMIN_PASSWORD || undefined,
    redirectAllowlist: allow.length ? allow : [new URL(publicUrl).origin],
    corsOrigins: list(env.CORS_ORIGINS),
    rateLimitPerIpPerMinute: int(env, 'RATE_LIMIT_PER_IP_PER_MINUTE', 60, 1),
    /** POST /auth/refresh per client address per minute (a limit of its own: apps refresh often). */
    rateLimitRefreshPerIpPerMinute: int(env, 'RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE', 300, 1),
    /** Serve /metrics and count every HTTP request (on by default; off only to measure what they cost). */
    metrics: bool(env, 'METRICS', true),
    /** Connections each identity or mfa process keeps to Postgres (replicas x this must stay under max_connections). */
    databasePoolSize: int(env, 'DATABASE_POOL_SIZE', 10, 1),
    /** Copies of the mail and audit streams a NATS cluster keeps: 3 on a 3-node cluster, so a lost node loses nothing. */
    jetstreamReplicas: int(env, 'JETSTREAM_REPLICAS', 1, 1),
    /** A service's operations port (/healthz, /readyz, /metrics); none when unset. The gateway serves them on PORT. */
    opsPort: env.OPS_PORT ? int(env, 'OPS_PORT', 9090, 0) : undefined,
    /** Open realtime sockets (`GET /auth/events`) per user, per gateway replica: one more is refused (429). */
    realtimeSocketsPerUser: int(env, 'REALTIME_SOCKETS_PER_USER', 20, 1),
    /** Open realtime sockets per client address, per gateway replica: one more is refused (429). */
    realtimeSocketsPerIp: int(env, 'REALTIME_SOCKETS_PER_IP', 200, 1),
    /** Seconds between the server's pings; a socket that did not answer the last one is dropped. */
    realtimePingInterval: int(env, 'REALTIME_PING_INTERVAL', 30, 1),
    /** Bytes waiting for a socket that does not read, past which it is dropped (close 4008) rather than buffered. */
    realtimeMaxBufferedBytes: int(env, 'REALTIME_MAX_BUFFERED_BYTES', 262144, 1024),
    /** Failed passwords per (account, client) per 15 minutes: the client is its known device, else its address. */
    loginFailuresPerAccount: loginFailures,
    /** Failed passwords per account per 15 minutes from all clients without a known device together (10x one client's unless set). */
    loginFailuresPerAccountUnknownClients: int(
      env,
      'LOGIN_FAILURES_PER_ACCOUNT_UNKNOWN_CLIENTS',
      10 * loginFailures,
      1,
    ),
    /** A password reset removes the second factors added in this many days (0: none); a thief's passkey goes with the thief. */
    resetRemovesFactorsDays: int(env, 'RESET_REMOVES_FACTORS_DAYS', 7, 0),
    /** How recent a sign-in must be to add or remove a sign-in method without sending the password or a code. */
    recentSignInSeconds: int(env, 'RECENT_SIGN_IN_SECONDS', 300, 1),
    passwordHash: parsePasswordHash(env.PASSWORD_HASH || 'argon2id:m=19456,t=2,p=1'),
    /** 32 bytes that encrypt secrets at rest; undefined only when it must be generated (embedded). */
    secretKey: secretKey(env.SECRET_KEY),
    /**
     * SECRET_KEY_PREVIOUS: earlier SECRET_KEYs (32 bytes each) that still open what
     * they sealed, during a rotation; nothing new is sealed under them. Empty by default.
     */
    secretKeyPrevious: previousSecretKeys(env.SECRET_KEY_PREVIOUS),
    signingAlg: signingAlg(env.SIGNING_ALG),
    keyRotationDays: int(env, 'KEY_ROTATION_DAYS', 30, 1),
    busTimeoutMs,
    /**
     * Which proxies in front of the gateway are trusted to report the client's
     * address in X-Forwarded-For: none (false), the nearest N hops, or those at
     * the listed addresses/CIDRs. The client is the rightmost untrusted hop.
     */
    trustProxy: trustProxy(env.TRUST_PROXY),
    /** The enabled social sign-in providers (OAUTH_*); empty when none is configured. */
    oauthProviders: oauthProviders(env),
    /**
     * How long a social provider may take, for the redirect to it and for all the calls of its
     * callback together (token, keys, profile), before the sign-in fails with ?error=provider_unavailable.
     */
    oauthTimeoutMs,
    logLevel: env.LOG_LEVEL || 'info',
  };
}

/** Stack mode: SECRET_KEY is required. Returns it or throws. */
export function requireSecretKey(config: Config): Buffer {
  if (!config.secretKey) throw new ConfigError('SECRET_KEY is required (32+ random bytes, base64)');
  return config.secretKey;
}

/**
 * Embedded mode: the SECRET_KEY from the environment, or one generated once
 * into DATA_DIR/secret.key (mode 600) so restarts can decrypt what they stored.
 */
export function embeddedSecretKey(config: Config): Buffer {
  if (config.secretKey) return config.secretKey;
  const file = join(config.dataDir, 'secret.key');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  return secretKey(readFileSync(file, 'utf8').trim()) as Buffer;
}
