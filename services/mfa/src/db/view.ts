import type { Kysely } from 'kysely';
import type { MfaDatabase } from './schema.ts';

/**
 * The given database seen through the mfa schema. Kysely's type parameter only
 * describes tables; at run time every Kysely is the same. Embedded mode hands
 * mfa the very instance identity uses (typed with identity's tables, PGlite's
 * one connection), and the mfa tables live beside identity's in it (the caller
 * ran mfa's `migrate` on it).
 *
 * The package's one cast, kept because nothing typed does this: `Kysely<DB>`
 * is invariant in `DB` (its transaction callbacks take it), so TypeScript
 * converts a Kysely of other tables only through `unknown`. Kysely's
 * `withTables<T>()` adds tables, `Kysely<DB & T>`, which is still no
 * `Kysely<MfaDatabase>`. And a second Kysely over the same PGlite is not
 * typed safety but a bug: its own driver has its own connection lock, so an
 * mfa query could run inside one of identity's transactions.
 */
export function asMfaDatabase<DB>(db: Kysely<DB>): Kysely<MfaDatabase> {
  return db as unknown as Kysely<MfaDatabase>;
}
