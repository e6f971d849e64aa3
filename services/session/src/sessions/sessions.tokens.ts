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

/**
 * The token that replaces `token` when it is rotated: its shard, a dot, and HMAC-SHA256(chain key,
 * token) in base64url (256 bits). `shard` defaults to the one `token` names (a token from before
 * shards names none: its shard is looked up and passed).
 */
export function childToken(chainKey: Buffer, token: string, shard = tokenShard(token)): string {
  if (shard === null) throw new Error('childToken: the token names no shard');
  return `${shard}.${createHmac('sha256', chainKey).update(token).digest('base64url')}`;
}

/**
 * The user's shard of the session store, `00` to `ff`: the first byte of SHA-256(user id), hex.
 * Every key of the user's sessions carries it as a Redis hash tag (one slot on a Redis Cluster),
 * and every refresh token names it, so the token's record is found without another lookup.
 */
export const shardOf = (userId: string): string => createHash('sha256').update(userId).digest('hex').slice(0, 2);

/** A session's first refresh token: its shard, a dot, 256 random bits (base64url). */
export const firstToken = (shard: string, random: Buffer): string => `${shard}.${random.toString('base64url')}`;

/** The shard a refresh token names, or null for one issued before shards (see RedisSessionStore.legacyShard). */
export function tokenShard(token: string): string | null {
  return /^[0-9a-f]{2}\./.test(token) ? token.slice(0, 2) : null;
}
