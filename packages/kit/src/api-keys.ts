import { createHash, randomBytes } from 'node:crypto';

/**
 * A user API key: `uk_` and 43 base64url characters (256 random bits). The
 * prefix tells it from a token (a JWT starts `ey`) and from the project keys
 * (`pk_`, `sk_`), in a header and in a secret scanner's rules.
 */
export const API_KEY_PREFIX = 'uk_';
const API_KEY = /^uk_[A-Za-z0-9_-]{43}$/;
/** What a key's owner sees of it later: the prefix and the first 8 characters. */
const DISPLAY_LENGTH = API_KEY_PREFIX.length + 8;

/** A new key, and the part of it shown in lists. */
export function newApiKey(): { key: string; prefix: string } {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, prefix: key.slice(0, DISPLAY_LENGTH) };
}

/** True for a string of a key's form (whether or not such a key exists). */
export const isApiKeyShaped = (value: string): boolean => API_KEY.test(value);

/**
 * A key's stored (and looked-up) form. SHA-256 without salt or stretching is
 * enough for 256 random bits: there is nothing to guess, and the lookup must
 * stay an index probe.
 */
export const apiKeyHash = (key: string): string => createHash('sha256').update(key).digest('hex');
