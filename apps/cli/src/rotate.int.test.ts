// A SECRET_KEY rotation end to end, against the real Redis (TEST_REDIS_URL) and
// Postgres (TEST_DATABASE_URL), and in embedded mode against a PGlite data dir:
// the session and mfa services under the old key, under the new key with the
// old one in SECRET_KEY_PREVIOUS, then `keys rotate`, then the new key alone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac, createPublicKey, randomBytes, randomUUID, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { openDatabase } from '@gatehouse/db';
import { createPostgresDatabase, silentLog } from '@gatehouse/db/testing';
import { Bus, InProcessTransport, isAppError, loadConfig } from '@gatehouse/kit';
import { RecordingAuditSink } from '@gatehouse/kit/testing';
import { type MfaDatabase, migrate, startMfa } from '@gatehouse/mfa';
import { RedisSessionStore, startSession } from '@gatehouse/session';
import { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { rotateKeys } from './rotate.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const prefix = `gh-test-cli-${randomUUID()}:`;
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const b64 = (key: Buffer) => key.toString('base64');
const DEFAULT_PROJECT_ID = '00000000-0000-7000-8000-000000000001';
type Jwk = { kty: string; kid: string; crv?: string; x?: string; y?: string };

/** RFC 6238 (SHA-1, 6 digits, 30 s) of a base32 secret, written out so the test does not trust the service's library. */
function totp(secret: string, at: Date): string {
  let bits = '';
  for (const c of secret.replace(/=+$/, ''))
    bits += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((byte) => Number.parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at.getTime() / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = (mac.at(-1) as number) & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** The access token's signature checked against the JWKS (ES256, with node:crypto alone); returns its kid. */
function verifiedKid(token: string, jwks: Jwk[]): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
  const jwk = jwks.find((k) => k.kid === kid);
  assert.ok(jwk, `kid ${kid} is published`);
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
  const ok = verify(
    'sha256',
    Buffer.from(`${header}.${payload}`),
    { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(signature, 'base64url'),
  );
  assert.ok(ok, 'the signature verifies');
  return kid;
}

/** A moving clock for mfa: each start is some TOTP steps later, so a code of an earlier start is no replay. */
let clockMs = Date.now();
const clock = () => new Date(clockMs);

interface Running {
  bus: Bus;
  close(): Promise<void>;
}

/** The session (over Redis, if given) and mfa services of one deployment on an in-process bus. */
async function startServices(
  db: Kysely<MfaDatabase>,
  secretKey: Buffer,
  previousSecretKeys: Buffer[],
  options: { redis?: boolean } = {},
): Promise<Running> {
  clockMs += 120_000;
  const bus = new Bus(new InProcessTransport(), silentLog, { timeoutMs: 15_000 });
  const config = loadConfig({ PUBLIC_URL: 'https://auth.example.test' });
  // The stand-in identity: mfa records there that a user has TOTP on.
  bus.serve('identity.user.set_mfa', async (m) => ({
    user: {
      id: m.user_id,
      project_id: m.project_id,
      email: 'r@example.test',
      email_verified: true,
      name: null,
      avatar_url: null,
      role: 'user',
      metadata: {},
      mfa_enabled: m.mfa_enabled,
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
      banned: false,
      has_password: true,
    },
  }));
  const closers: (() => Promise<void>)[] = [];
  if (options.redis) {
    const store = new RedisSessionStore(redis, { prefix });
    const session = await startSession({
      bus,
      sessionStore: store,
      keyStore: store,
      config,
      log: silentLog,
      secretKey,
      previousSecretKeys,
      audit: new RecordingAuditSink(),
    });
    closers.push(() => session.close());
  }
  const mfa = await startMfa({ bus, db, config, secretKey, previousSecretKeys, log: silentLog, clock });
  closers.push(() => mfa.close());
  return {
    bus,
    close: async () => {
      for (const close of closers) await close();
      await bus.transport.close();
    },
  };
}

type User = { project_id: string; user_id: string };

/** Completes an MFA challenge: true, or false when the code is invalid_code. */
async function passes(bus: Bus, user: User, proof: { code: string } | { recovery_code: string }): Promise<boolean> {
  const { mfa_token } = await bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
  try {
    await bus.request('mfa.challenge.verify', { mfa_token, ...proof });
    return true;
  } catch (err) {
    if (isAppError(err, 'invalid_code')) return false;
    throw err;
  }
}

/** Signs an access token for `user` and checks it against the published JWKS; returns its kid. */
async function signs(bus: Bus, user: User): Promise<string> {
  const tokens = await bus.request('session.session.create', { ...user, role: 'user', amr: ['pwd', 'otp'] });
  const { keys } = await bus.request('session.jwks.get', {});
  return verifiedKid(tokens.access_token, keys);
}

async function enrol(bus: Bus, user: User): Promise<{ secret: string; recoveryCodes: string[] }> {
  const { secret } = await bus.request('mfa.totp.setup', { ...user, account_name: 'r@example.test' });
  const { recovery_codes } = await bus.request('mfa.totp.enable', { ...user, code: totp(secret, clock()) });
  return { secret, recoveryCodes: recovery_codes };
}

describe('keys rotate', () => {
  test('stack: the services keep working through a SECRET_KEY rotation, and after keys rotate with the new key alone', async () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
    const created = await createPostgresDatabase();
    const db = await openDatabase<MfaDatabase>({ databaseUrl: created.url, dataDir: tmpdir(), log: silentLog });
    cleanups.push(created.drop, () => db.destroy());
    await migrate(db);
    const user = { project_id: DEFAULT_PROJECT_ID, user_id: randomUUID() };

    const before = await startServices(db, oldKey, [], { redis: true });
    const kid = await signs(before.bus, user);
    const { secret, recoveryCodes } = await enrol(before.bus, user);
    await before.close();

    const during = await startServices(db, newKey, [oldKey], { redis: true });
    assert.equal(await signs(during.bus, user), kid, 'starts and signs with the key sealed under the old SECRET_KEY');
    assert.ok(await passes(during.bus, user, { code: totp(secret, clock()) }), 'the TOTP code verifies');
    assert.ok(await passes(during.bus, user, { recovery_code: recoveryCodes[0] as string }), 'a recovery code works');
    await during.close();

    const printed: string[] = [];
    const config = loadConfig({
      DATABASE_URL: created.url,
      REDIS_URL,
      SECRET_KEY: b64(newKey),
      SECRET_KEY_PREVIOUS: b64(oldKey),
    });
    assert.equal(
      await rotateKeys({ config, log: silentLog, print: (l) => printed.push(l), redisPrefix: prefix }),
      true,
    );
    const report = printed.join('\n');
    assert.match(report, new RegExp(`signing key ${kid}: re-sealed`));
    assert.match(report, /TOTP secrets: 1 re-sealed, 0 already under SECRET_KEY, 0 changed meanwhile/);
    assert.match(report, /^done: /m);

    const afterwards = await startServices(db, newKey, [], { redis: true });
    assert.equal(await signs(afterwards.bus, user), kid, 'the same signing key, opened with the new SECRET_KEY alone');
    assert.ok(await passes(afterwards.bus, user, { code: totp(secret, clock()) }));
    assert.ok(
      await passes(afterwards.bus, user, { recovery_code: recoveryCodes[1] as string }),
      'issued before rotating',
    );
    assert.ok(!(await passes(afterwards.bus, user, { recovery_code: recoveryCodes[0] as string })), 'used stays used');
    await afterwards.close();

    printed.length = 0;
    assert.equal(
      await rotateKeys({ config, log: silentLog, print: (l) => printed.push(l), redisPrefix: prefix }),
      true,
    );
    assert.match(printed.join('\n'), new RegExp(`signing key ${kid}: already under SECRET_KEY`));
  });

  test('embedded: `pnpm gatehouse keys rotate` re-seals the PGlite data dir; a value it cannot open fails the run', async () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
    const dataDir = await mkdtemp(join(tmpdir(), 'gh-cli-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    await writeFile(join(dataDir, 'secret.key'), b64(oldKey), { mode: 0o600 });
    const user = { project_id: DEFAULT_PROJECT_ID, user_id: randomUUID() };

    let db = await openDatabase<MfaDatabase>({ dataDir, log: silentLog });
    await migrate(db);
    const before = await startServices(db, oldKey, []);
    const { secret } = await enrol(before.bus, user);
    await before.close();
    await db.destroy(); // embedded: Gatehouse is stopped while the command runs

    const root = resolve(import.meta.dirname, '../../..');
    const cli = (env: Record<string, string>) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'apps/cli/src/main.ts'), 'keys', 'rotate'], {
        cwd: join(root, 'apps/cli'), // no .env there
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, ...env },
        timeout: 60_000,
      });
    await assert.rejects(cli({ SECRET_KEY: b64(newKey) }), (err: { code?: number; stdout?: string }) => {
      // Without the old key in SECRET_KEY_PREVIOUS nothing opens: it says so and exits 1.
      assert.equal(err.code, 1);
      assert.match(err.stdout ?? '', /NOT re-sealed/);
      assert.match(err.stdout ?? '', /^not done: /m);
      return true;
    });
    const { stdout } = await cli({ SECRET_KEY: b64(newKey), SECRET_KEY_PREVIOUS: b64(oldKey) });
    assert.match(stdout, /signing keys: skipped, no REDIS_URL/);
    assert.match(stdout, /TOTP secrets: 1 re-sealed/);
    assert.match(stdout, /secret\.key holds another key/);
    assert.match(stdout, /^done: /m);

    db = await openDatabase<MfaDatabase>({ dataDir, log: silentLog });
    cleanups.push(() => db.destroy());
    const afterwards = await startServices(db, newKey, []);
    assert.ok(await passes(afterwards.bus, user, { code: totp(secret, clock()) }), 'opens with the new key alone');
    await afterwards.close();
  });
});
