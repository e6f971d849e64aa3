import type { Kysely } from 'kysely';
import type { MfaDatabase } from './schema.ts';

/**
 * The given database seen through the mfa schema. Kysely's type parameter only
 * describes tables; at run time every Kysely is the same. Embedded mode hands
 * mfa the very instance identity uses (typed with identity's tables, PGlite's
 * one connection), and the mfa tables live beside identity's in it.
 */
export function asMfaDatabase<DB>(db: Kysely<DB>): Kysely<MfaDatabase> {
  return db as unknown as Kysely<MfaDatabase>;
}
