// RFC 6238 computed with node:crypto (infra/scripts/totp.mjs), independently of the otplib
// code under test: a secret encoded the wrong way on the server cannot pass.
// @ts-expect-error: a plain .mjs script without type declarations
import { totp as rfc6238 } from '../../infra/scripts/totp.mjs';

/** The 6-digit code of `secret` (base32) for now, shifted by `offset` 30-second steps. */
export const totp = (secret: string, offset = 0, at = Date.now()): string => rfc6238(secret, offset, at);

/** RFC 6238 appendix B: the SHA-1 vector at T = 59 s (8 digits 94287082, so 6 digits 287082). */
export function selfCheck(): void {
  const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // "12345678901234567890"
  if (totp(secret, 0, 59_000) !== '287082') throw new Error('the test TOTP implementation is wrong');
}
