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
 * A project's keys: the publishable key (`pk_`) names the project and is safe
 * in a browser; the secret key (`sk_`) is the project's server credential,
 * shown once and stored as its `apiKeyHash`. Each is the prefix and 43
 * base64url characters (256 random bits).
 */
export const PUBLISHABLE_KEY_PREFIX = 'pk_';
export const SECRET_KEY_PREFIX = 'sk_';
const PUBLISHABLE_KEY = /^pk_[A-Za-z0-9_-]{43}$/;
const SECRET_KEY = /^sk_[A-Za-z0-9_-]{43}$/;

/** A new pair of project keys (both new: a rotation replaces both). */
export function newProjectKeys(): { publishable_key: string; secret_key: string } {
  return {
    publishable_key: PUBLISHABLE_KEY_PREFIX + randomBytes(32).toString('base64url'),
    secret_key: SECRET_KEY_PREFIX + randomBytes(32).toString('base64url'),
  };
}

/** True for a string of a publishable key's form (whether or not such a project exists). */
export const isPublishableKeyShaped = (value: string): boolean => PUBLISHABLE_KEY.test(value);
/** True for a string of a project secret key's form (whether or not such a key exists). */
export const isSecretKeyShaped = (value: string): boolean => SECRET_KEY.test(value);

/**
 * A key's stored (and looked-up) form. SHA-256 without salt or stretching is
 * enough for 256 random bits: there is nothing to guess, and the lookup must
 * stay an index probe.
 */
export const apiKeyHash = (key: string): string => createHash('sha256').update(key).digest('hex');
