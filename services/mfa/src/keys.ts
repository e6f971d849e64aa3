import { hkdfSync } from 'node:crypto';

/**
 * The keys the mfa service derives from SECRET_KEY, one per purpose (HKDF-SHA256,
 * RFC 5869), so that no key serves two purposes and SECRET_KEY itself only
 * ever seals (`seal`/`unseal` from kit).
 */
export interface MfaKeys {
  /** AES-256-GCM key for TOTP secrets at rest: SECRET_KEY itself, as kit's `seal` expects. */
  seal: Buffer;
  /** HMAC-SHA256 key of recovery codes. */
  recoveryCodes: Buffer;
  /** HMAC-SHA256 key of the stand-in credential ids shown for unknown addresses. */
  standIns: Buffer;
}

const derive = (secretKey: Buffer, purpose: string): Buffer =>
  Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), `gatehouse/mfa/${purpose}`, 32));

/** Derives every mfa key from SECRET_KEY (32 bytes). */
export function deriveKeys(secretKey: Buffer): MfaKeys {
  return {
    seal: secretKey,
    recoveryCodes: derive(secretKey, 'recovery-codes'),
    standIns: derive(secretKey, 'passkey-stand-ins'),
  };
}
