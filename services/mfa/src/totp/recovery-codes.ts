import { createHmac, randomBytes } from 'node:crypto';

/** How many codes a user holds at once. */
export const RECOVERY_CODE_COUNT = 10;

/**
 * Crockford's base32 alphabet, lower case: no i, l, o or u, so a code read off
 * paper cannot be mistyped between look-alikes (and `normalize` maps them).
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * A new recovery code: 80 random bits (NIST SP 800-63B asks at least 64 for a
 * look-up secret) as 16 base32 characters in groups of four,
 * `xxxx-xxxx-xxxx-xxxx`.
 */
export function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  let bits = 0n;
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte);
  let chars = '';
  for (let i = 0; i < 16; i++) {
    chars = ALPHABET[Number(bits & 31n)] + chars;
    bits >>= 5n;
  }
  return chars.match(/.{4}/g)!.join('-');
}

/**
 * The canonical form of a typed code: case, spaces and dashes ignored, and
 * Crockford's look-alikes (o → 0, i and l → 1) folded. Null when what is left
 * cannot be a recovery code, so no hash is computed for it.
 */
export function normalizeRecoveryCode(typed: string): string | null {
  const code = typed.toLowerCase().replace(/[\s-]/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  return /^[0-9a-hjkmnp-tv-z]{16}$/.test(code) ? code : null;
}

/**
 * The stored form of a normalized code: HMAC-SHA256 under a key derived from
 * SECRET_KEY, bound to its user. Deterministic, so finding a code is an index
 * probe; keyed, so a database leak alone does not allow an offline search of
 * the 80-bit space.
 */
export function hashRecoveryCode(key: Buffer, projectId: string, userId: string, normalized: string): string {
  return createHmac('sha256', key).update(`${projectId}:${userId}:${normalized}`).digest('hex');
}
