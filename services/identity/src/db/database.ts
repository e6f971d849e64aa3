import { type OpenDatabaseOptions, openDatabase as openAnyDatabase } from '@gatehouse/db';
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export { type OpenDatabaseOptions, pingDatabase } from '@gatehouse/db';

/**
 * Opens the identity database (see @gatehouse/db `openDatabase`): a pool when
 * `databaseUrl` is set, PGlite in `dataDir/pgdata` otherwise. Does not migrate.
 */
export function openDatabase(options: OpenDatabaseOptions): Promise<Kysely<Database>> {
  return openAnyDatabase<Database>(options);
}
