import { type AuditSink, type Bus, type Config, KeyRing, type Logger, metrics } from '@gatehouse/kit';
import { registerKeyHandlers } from './keys/keys.handlers.ts';
import { KeyService } from './keys/keys.service.ts';
import type { SigningKeyStore } from './keys/keys.store.ts';
import { registerSessionHandlers } from './sessions/sessions.handlers.ts';
import { SessionService } from './sessions/sessions.service.ts';
import type { SessionStore } from './sessions/sessions.store.ts';
import { refreshChainKey } from './sessions/sessions.tokens.ts';

export { type ResealedKey, resealSigningKeys } from './keys/keys.reseal.ts';
export type { SigningKeyStore } from './keys/keys.store.ts';
export { MemorySessionStore } from './sessions/sessions.store.memory.ts';
export { RedisSessionStore } from './sessions/sessions.store.redis.ts';
export type { SessionStore } from './sessions/sessions.store.ts';

export interface SessionDeps {
  bus: Bus;
  sessionStore: SessionStore;
  /** The signing keys. RedisSessionStore and MemorySessionStore keep keys too: one of them is passed as both stores. */
  keyStore: SigningKeyStore;
  config: Config;
  log: Logger;
  /** SECRET_KEY: seals the private signing keys at rest, and keys the refresh-token chain (through HKDF). */
  secretKey: Buffer;
  /** SECRET_KEY_PREVIOUS, during a SECRET_KEY rotation: still opens the signing keys sealed under them. */
  previousSecretKeys?: readonly Buffer[];
  /**
   * Where the audit events of the session service go (a refresh token's reuse): JetStream in the
   * stack, the in-process queue embedded (tests: kit/testing's RecordingAuditSink).
   */
  audit: AuditSink;
  now?: () => number;
}

/** How often a replica checks whether the signing key is due for rotation. */
const KEY_CHECK_INTERVAL_MS = 3_600_000;

/**
 * The session service: loads (or creates) the signing keys, then serves every
 * `session.*` subject on `deps.bus`. It never connects by itself; main.ts (or
 * the embedded mode) hands it a bus and the stores. `rotateKeys` forces a key
 * rotation (tests, operators); rotation otherwise happens every
 * `keyRotationDays`, checked at start and hourly.
 */
export async function startSession(
  deps: SessionDeps,
): Promise<{ close(): Promise<void>; rotateKeys(): Promise<void> }> {
  const { bus, sessionStore, keyStore, config, log } = deps;
  const now = deps.now ?? Date.now;
  const keys = new KeyService({
    store: keyStore,
    keyRing: new KeyRing(deps.secretKey, deps.previousSecretKeys),
    alg: config.signingAlg,
    rotationDays: config.keyRotationDays,
    accessTokenTtl: config.accessTokenTtl,
    now,
    log,
    onActivated: (kid) => bus.publish('events.keys.rotated', { v: 1, kid }),
  });
  // Every replica reloads when any of them rotates (no queue group: all receive it).
  bus.subscribe('events.keys.rotated', () => keys.reload());
  await keys.start();

  const sessions = new SessionService({
    store: sessionStore,
    signer: keys,
    chainKey: refreshChainKey(deps.secretKey),
    config,
    log,
    now,
    // Published (and, over NATS, flushed) before the revoking call is answered,
    // so every gateway refuses the session's tokens by the time the caller hears back.
    onRevoked: (event) => {
      metrics.revocations.inc({ reason: event.reason }, event.session_ids.length);
      return bus.publish('events.session.revoked', { v: 1, ...event });
    },
    audit: deps.audit,
  });
  registerSessionHandlers(bus, sessions);
  registerKeyHandlers(bus, keys);
  bus.serve('session.health.check', async () => {
    await sessionStore.ping();
    return { ok: true };
  });

  const timer = setInterval(() => {
    keys.rotateIfDue().catch((err) => log.error({ err }, 'signing-key rotation check failed'));
  }, KEY_CHECK_INTERVAL_MS);
  timer.unref();

  return {
    close: async () => clearInterval(timer),
    rotateKeys: async () => {
      await keys.rotate();
    },
  };
}
