import { createHash, createHmac, hkdfSync } from 'node:crypto';

/**
 * Refresh tokens and their chain. A session's first refresh token is random;
 * every later one is the child of the token it replaces, HMAC-SHA256 of it
 * under the chain key, so whoever presents a token can be told which token
 * followed it without the service ever storing a token in a recoverable form:
 * the store keeps SHA-256 hashes only, and from a hash nobody (the service
 * included) can compute the child's hash. Without the chain key, a token says
 * nothing about its child; the key never leaves the service.
 */

/** SHA-256 of a refresh token (hex): the only form in which it is stored. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** HKDF `info`: the chain key is for this one use of SECRET_KEY and no other. */
const CHAIN_INFO = 'gatehouse/session/refresh-chain';

/** The 32-byte chain key, derived from SECRET_KEY with HKDF-SHA256. */
export function refreshChainKey(secretKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), CHAIN_INFO, 32));
}

/** The token that replaces `token` when it is rotated: HMAC-SHA256(chain key, token), base64url (256 bits). */
export function childToken(chainKey: Buffer, token: string): string {
  return createHmac('sha256', chainKey).update(token).digest('base64url');
}
