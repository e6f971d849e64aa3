import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '@gatehouse/db';
import { type Config, createRedis, KeyRing, keyId, type Logger } from '@gatehouse/kit';
import { type MfaDatabase, migrate as migrateMfa, resealMfaSecrets } from '@gatehouse/mfa';
import { RedisSessionStore, resealSigningKeys } from '@gatehouse/session';
import { type Kysely, sql } from 'kysely';

export interface RotateOptions {
  config: Config;
  /** Where the report goes, a line at a time. */
  print: (line: string) => void;
  log: Logger;
  /** The session store's Redis key prefix (the services use the default; tests their own). */
  redisPrefix?: string;
}

/**
 * `gatehouse keys rotate`: re-seals every sealed value under SECRET_KEY (the
 * signing keys in Redis, the TOTP secrets in the database) and keeps the
 * recovery-code keys of SECRET_KEY_PREVIOUS in the database, so that the keys
 * in SECRET_KEY_PREVIOUS can then be removed. Prints what it did. Returns
 * false when something could not be re-sealed (it is listed): then
 * SECRET_KEY_PREVIOUS must stay. Safe to run again.
 */
export async function rotateKeys(options: RotateOptions): Promise<boolean> {
  const { config, print, log } = options;
  const ring = new KeyRing(primaryKey(config), config.secretKeyPrevious);
  print(`SECRET_KEY: key ${ring.primaryKid}`);
  print(
    ring.previous.length
      ? `SECRET_KEY_PREVIOUS: ${ring.previous.map((k) => `key ${keyId(k)}`).join(', ')}`
      : 'SECRET_KEY_PREVIOUS: empty (only values in the legacy v1 format are re-sealed)',
  );
  let ok = true;

  if (config.redisUrl) {
    const redis = createRedis(config, {
      maxRetriesPerRequest: 1,
      connectTimeout: 5000,
      commandTimeout: 5000,
      // A command-line tool gives up rather than waiting for Redis forever.
      retryStrategy: (times) => (times > 3 ? null : 200 * times),
    });
    redis.on('error', (err) => log.debug({ err: err.message }, 'redis error'));
    try {
      const store = new RedisSessionStore(redis, options.redisPrefix ? { prefix: options.redisPrefix } : {});
      // Keys an earlier release stored are where this one reads them (as the session service does at start).
      await store.migrateLegacyLayout(Date.now());
      const outcomes = await resealSigningKeys(store, ring);
      if (outcomes.length === 0) print('signing keys: none stored');
      for (const o of outcomes) {
        const from = o.from === null ? 'the v1 format' : `key ${o.from}`;
        if (o.outcome === 'resealed') print(`signing key ${o.kid}: re-sealed (was under ${from})`);
        else if (o.outcome === 'current') print(`signing key ${o.kid}: already under SECRET_KEY`);
        else if (o.outcome === 'changed') print(`signing key ${o.kid}: changed meanwhile, run again`);
        else print(`signing key ${o.kid}: NOT re-sealed: ${o.error}`);
        if (o.outcome === 'failed' || o.outcome === 'changed') ok = false;
      }
    } finally {
      redis.disconnect();
    }
  } else {
    print('signing keys: skipped, no REDIS_URL (embedded mode keeps them in memory and makes new ones at every start)');
  }

  const embedded = !config.databaseUrl;
  if (embedded && !existsSync(join(config.dataDir, 'pgdata'))) {
    print(`TOTP secrets: skipped, no DATABASE_URL and no embedded database in ${join(config.dataDir, 'pgdata')}`);
  } else {
    // Embedded mode: stop Gatehouse first; PGlite serves one process at a time.
    const db = await openDatabase<MfaDatabase>({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
    try {
      if (!(await hasMfaSchema(db))) {
        print('TOTP secrets: the database has no mfa tables (is DATABASE_URL the mfa service’s database?)');
      } else {
        await migrateMfa(db); // the table of carried recovery-code keys, if the services have not made it yet
        const report = await resealMfaSecrets(db, ring);
        const { resealed, current, changed } = report.totp;
        print(`TOTP secrets: ${resealed} re-sealed, ${current} already under SECRET_KEY, ${changed} changed meanwhile`);
        if (report.carried.length) {
          print(`recovery codes: the keys of ${report.carried.map((k) => `key ${k}`).join(', ')} are kept (sealed)`);
        }
        if (report.recoveryKeysResealed) print(`recovery codes: ${report.recoveryKeysResealed} kept keys re-sealed`);
        for (const f of report.failed) print(`${f.where}: NOT re-sealed: ${f.error}`);
        if (report.failed.length || changed) ok = false;
      }
    } finally {
      await db.destroy();
    }
  }

  if (embedded) {
    const file = join(config.dataDir, 'secret.key');
    if (config.secretKey && existsSync(file) && !keyFrom(readFileSync(file, 'utf8')).equals(ring.primary)) {
      print(`note: ${file} holds another key: replace its content with SECRET_KEY before starting without SECRET_KEY`);
    }
  }
  print(
    ok
      ? 'done: everything is sealed under SECRET_KEY; SECRET_KEY_PREVIOUS can be removed (then restart the services)'
      : 'not done: keep SECRET_KEY_PREVIOUS until the values above are dealt with, and run again',
  );
  return ok;
}

/** SECRET_KEY; in embedded mode (no DATABASE_URL) DATA_DIR/secret.key when it is not set, as the service does. */
function primaryKey(config: Config): Buffer {
  if (config.secretKey) return config.secretKey;
  const file = join(config.dataDir, 'secret.key');
  if (!config.databaseUrl && existsSync(file)) return keyFrom(readFileSync(file, 'utf8'));
  throw new Error('SECRET_KEY is required (the new key; the old one goes in SECRET_KEY_PREVIOUS)');
}

function keyFrom(base64: string): Buffer {
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length < 32) throw new Error('a secret key must be at least 32 random bytes, base64');
  return key.subarray(0, 32);
}

/** True when the mfa service has migrated this database (so it is the right one). */
async function hasMfaSchema(db: Kysely<MfaDatabase>): Promise<boolean> {
  const { rows } = await sql<{ found: string | null }>`select to_regclass('mfa_totp')::text as found`.execute(db);
  return rows[0]?.found != null;
}
