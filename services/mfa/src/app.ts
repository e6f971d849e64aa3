import { pingDatabase } from '@gatehouse/db';
import { type Bus, type Config, KeyRing, type Logger } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import { registerAccountHandlers } from './account/account.handlers.ts';
import { registerChallengeHandlers } from './challenges/challenges.handlers.ts';
import { ChallengesService } from './challenges/challenges.service.ts';
import { PostgresChallengesStore } from './challenges/challenges.store.ts';
import { asMfaDatabase } from './db/view.ts';
import { registerFactorHandlers } from './factors/factors.handlers.ts';
import { FactorsService } from './factors/factors.service.ts';
import { deriveKeys } from './keys.ts';
import { MfaChanges } from './mfa-changes.ts';
import { registerPasskeyHandlers } from './passkeys/passkeys.handlers.ts';
import { PasskeysService } from './passkeys/passkeys.service.ts';
import { PostgresPasskeysStore } from './passkeys/passkeys.store.ts';
import { relyingPartyOf } from './passkeys/relying-party.ts';
import { PostgresWebAuthnChallengesStore } from './passkeys/webauthn-challenges.store.ts';
import { loadRecoveryKeys } from './rotation.ts';
import { registerTotpHandlers } from './totp/totp.handlers.ts';
import { TotpService } from './totp/totp.service.ts';
import { PostgresTotpStore } from './totp/totp.store.ts';

export { migrate } from './db/migrations.ts';
export type { MfaDatabase } from './db/schema.ts';
export { type MfaResealReport, type ResealFailure, resealMfaSecrets } from './rotation.ts';

export interface MfaDeps<DB> {
  bus: Bus;
  /**
   * Migrated with `migrate`; the caller owns it and destroys it. Any Kysely
   * over the database that holds the mfa tables: embedded mode passes the one
   * identity uses (PGlite has a single connection, so the mfa code never uses
   * this root handle inside a transaction).
   */
  db: Kysely<DB>;
  /** PUBLIC_URL and CORS_ORIGINS make the WebAuthn relying party. */
  config: Pick<Config, 'publicUrl' | 'corsOrigins'>;
  /** SECRET_KEY (32 bytes): seals TOTP secrets, keys the recovery-code HMAC. */
  secretKey: Buffer;
  /**
   * SECRET_KEY_PREVIOUS, during a SECRET_KEY rotation: still opens TOTP secrets
   * sealed under them, and recovery codes issued under them still verify.
   */
  previousSecretKeys?: readonly Buffer[];
  log: Logger;
  /** The time; tests move it. */
  clock?: () => Date;
}

/**
 * The mfa service: TOTP with recovery codes, passkeys and MFA challenges,
 * served on every `mfa.*` subject of `bus`. Never connects by itself;
 * `close` stops nothing the caller owns (bus, database).
 */
export async function startMfa<DB>(deps: MfaDeps<DB>): Promise<{ close(): Promise<void> }> {
  const { bus, config, log } = deps;
  const db = asMfaDatabase(deps.db);
  const clock = deps.clock ?? (() => new Date());
  const ring = new KeyRing(deps.secretKey, deps.previousSecretKeys);
  const keys = deriveKeys(ring, await loadRecoveryKeys(db, ring, log));
  const changes = new MfaChanges(bus, log);

  const totpStore = new PostgresTotpStore(db);
  const passkeyStore = new PostgresPasskeysStore(db);
  const totp = new TotpService({ store: totpStore, keys, changes, clock });
  const passkeys = new PasskeysService({
    store: passkeyStore,
    challenges: new PostgresWebAuthnChallengesStore(db),
    relyingParty: relyingPartyOf(config),
    keys,
    changes,
    clock,
  });
  const challenges = new ChallengesService({ store: new PostgresChallengesStore(db), totp, passkeys, clock });

  registerTotpHandlers(bus, totp);
  registerChallengeHandlers(bus, challenges);
  registerPasskeyHandlers(bus, passkeys, challenges);
  registerAccountHandlers(bus, db);
  registerFactorHandlers(bus, new FactorsService({ totp, totpStore, passkeys: passkeyStore, changes }));
  bus.serve('mfa.status.get', async (m) => {
    const ref = { projectId: m.project_id, userId: m.user_id };
    const [status, count] = await Promise.all([totp.status(ref), passkeys.count(ref)]);
    return { totp: status.enabled, passkeys: count, recovery_codes_left: status.recoveryCodesLeft };
  });
  bus.serve('mfa.health.check', async () => {
    await pingDatabase(db);
    return { ok: true };
  });
  return { close: async () => {} };
}
