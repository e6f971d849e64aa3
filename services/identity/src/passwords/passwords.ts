import { randomBytes } from 'node:crypto';
import type { PasswordHashParams } from '@gatehouse/kit';
import { type Algorithm, hash, parseOptions, type Version, verify } from '@node-rs/argon2';

// The package declares these as const enums, which isolatedModules cannot read;
// the values are fixed by the PHC/argon2 specification: argon2id, version 0x13.
const ARGON2ID = 2 as Algorithm;
const V0X13 = 1 as Version;

/** Hashing and checking of passwords with argon2id, at the configured cost. */
export interface Passwords {
  /** An argon2id PHC string for `password` with a fresh random salt. */
  hash(password: string): Promise<string>;
  /** True when `password` matches `stored`; false for a wrong password or a malformed hash. */
  verify(stored: string, password: string): Promise<boolean>;
  /**
   * Spends the time of one real verification and returns false. Called when
   * there is no hash to check (unknown email, a guest), so that the answer
   * takes as long as a wrong password and timing does not reveal which
   * accounts exist.
   */
  verifyDummy(password: string): Promise<false>;
  /** True when `stored` was made with other parameters than the configured ones. */
  needsRehash(stored: string): boolean;
}

/**
 * Builds the password hasher for `params` (from `PASSWORD_HASH`). Hashes the
 * dummy password once here, at start, with the same parameters, so the
 * unknown-user path costs exactly what a real verification costs. The work
 * runs on libuv's thread pool (the async API), off the event loop.
 */
export async function createPasswords(params: PasswordHashParams): Promise<Passwords> {
  const options = { ...params, algorithm: ARGON2ID, version: V0X13 };
  const dummyHash = await hash(randomBytes(32).toString('base64url'), options);

  const check = async (stored: string, password: string): Promise<boolean> => {
    try {
      return await verify(stored, password);
    } catch {
      // A hash the library cannot parse matches nothing; failing closed is the safe answer.
      return false;
    }
  };

  // "$argon2id$v=19$m=19456,t=2,p=1$": what every hash made with the current
  // parameters starts with, before its salt. Checked on every sign-in, so a
  // prefix comparison first, and parsing (a native call) only for the others.
  const currentPrefix = dummyHash.slice(0, dummyHash.lastIndexOf('$', dummyHash.lastIndexOf('$') - 1) + 1);

  return {
    hash: (password) => hash(password, options),
    verify: check,
    async verifyDummy(password) {
      await check(dummyHash, password);
      return false;
    },
    needsRehash(stored) {
      if (stored.startsWith(currentPrefix)) return false;
      try {
        const current = parseOptions(stored);
        return (
          current.algorithm !== ARGON2ID ||
          current.version !== V0X13 ||
          current.memoryCost !== params.memoryCost ||
          current.timeCost !== params.timeCost ||
          current.parallelism !== params.parallelism
        );
      } catch {
        return true;
      }
    },
  };
}
