import { type Static, Type } from '@sinclair/typebox';

/**
 * A signing key as the store keeps it: the private JWK sealed under SECRET_KEY
 * (bound to its kid). Times are epoch milliseconds; `retired_at` is null for
 * the one active key. `publish_until` is when a retired key may leave the JWKS:
 * its retirement plus the access-token lifetime in force then plus skew,
 * recorded by the replica that retired it; null for the active key, and for a
 * key retired by an earlier release that recorded none.
 *
 * The public key is never taken from the store: the key service derives it
 * from the sealed private key, so whoever can write the store cannot publish
 * a key of their own. `public_jwk` is still written, for replicas of earlier
 * releases (which read it) during an upgrade, and otherwise ignored.
 */
export const StoredKey = Type.Object({
  kid: Type.String({ minLength: 1 }),
  alg: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA')]),
  created_at: Type.Integer(),
  retired_at: Type.Union([Type.Integer(), Type.Null()]),
  publish_until: Type.Union([Type.Integer(), Type.Null()]),
  public_jwk: Type.Optional(Type.Unknown()),
  sealed_private: Type.String({ minLength: 1 }),
});
export type StoredKey = Static<typeof StoredKey>;

/**
 * The storage the key service needs. Every replica reads the same keys, so
 * activation is a compare-and-set: of two replicas generating a first key (or
 * rotating) at once, exactly one wins and the other reloads.
 */
export interface SigningKeyStore {
  /** Every stored key, the active one (retired_at null) included. */
  listKeys(): Promise<StoredKey[]>;
  /**
   * Makes `key` the active key if the active key is still `expectedActiveKid`
   * (null: there is none yet), retiring that one at `now`, to be published
   * until `publishUntil`. Returns false, and stores nothing, when another
   * replica got there first.
   */
  activateKey(key: StoredKey, expectedActiveKid: string | null, now: number, publishUntil: number): Promise<boolean>;
  /** Forgets a retired key (its tokens have all expired). Never the active one. */
  deleteKey(kid: string): Promise<void>;
  /**
   * Replaces a key's sealed private key (the same key, re-sealed under a new
   * SECRET_KEY) if it is still `expectedSealed`; false when the key is gone or
   * was changed meanwhile.
   */
  resealKey(kid: string, expectedSealed: string, sealed: string): Promise<boolean>;
}
