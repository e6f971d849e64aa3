import { Jwk } from '@gatehouse/contracts';
import { type Static, Type } from '@sinclair/typebox';

/**
 * A signing key as the store keeps it: the public JWK in the clear (it is
 * published anyway), the private JWK sealed under SECRET_KEY. Times are epoch
 * milliseconds; `retired_at` is null for the one active key.
 */
export const StoredKey = Type.Object({
  kid: Type.String({ minLength: 1 }),
  alg: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA')]),
  created_at: Type.Integer(),
  retired_at: Type.Union([Type.Integer(), Type.Null()]),
  public_jwk: Jwk,
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
   * (null: there is none yet), retiring that one at `now`. Returns false, and
   * stores nothing, when another replica got there first.
   */
  activateKey(key: StoredKey, expectedActiveKid: string | null, now: number): Promise<boolean>;
  /** Forgets a retired key (its tokens have all expired). Never the active one. */
  deleteKey(kid: string): Promise<void>;
}
