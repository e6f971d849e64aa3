import { hkdfSync } from 'node:crypto';
import type { KeyRing } from '@gatehouse/kit';

/**
 * The keys the mfa service derives from SECRET_KEY, one per purpose (HKDF-SHA256,
 * RFC 5869), so that no key serves two purposes and SECRET_KEY itself only
 * ever seals (`seal`/`unseal` from kit).
 */
export interface MfaKeys {
  /** AES-256-GCM keys for TOTP secrets at rest: SECRET_KEY seals, SECRET_KEY_PREVIOUS still opens. */
  seal: KeyRing;
  /** HMAC-SHA256 key of recovery codes issued now (from SECRET_KEY). */
  recoveryCodes: Buffer;
  /**
   * Every key a stored recovery-code hash may be under, `recoveryCodes` first:
   * those of SECRET_KEY_PREVIOUS, and those carried over by `keys rotate` from
   * keys since removed (a code cannot be re-hashed without the user typing it).
   */
  recoveryCodesAccepted: readonly Buffer[];
  /** HMAC-SHA256 key of the stand-in credential ids shown for unknown addresses (SECRET_KEY's only). */
  standIns: Buffer;
}

const derive = (secretKey: Buffer, purpose: string): Buffer =>
  Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), `gatehouse/mfa/${purpose}`, 32));

/** The recovery-code HMAC key of one SECRET_KEY. */
export const recoveryCodeKey = (secretKey: Buffer): Buffer => derive(secretKey, 'recovery-codes');

/**
 * Derives every mfa key from the ring (SECRET_KEY, SECRET_KEY_PREVIOUS);
 * `carried`: recovery-code keys of earlier SECRET_KEYs kept in the database.
 */
export function deriveKeys(ring: KeyRing, carried: readonly Buffer[] = []): MfaKeys {
  const accepted: Buffer[] = [];
  for (const key of [...ring.keys.map(recoveryCodeKey), ...carried]) {
    if (!accepted.some((k) => k.equals(key))) accepted.push(key);
  }
  return {
    seal: ring,
    recoveryCodes: accepted[0] as Buffer,
    recoveryCodesAccepted: accepted,
    standIns: derive(ring.primary, 'passkey-stand-ins'),
  };
}
