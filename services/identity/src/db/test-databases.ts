// Test support only (imported by *.test.ts files, never by the service).
import {
  type TestDatabase as AnyTestDatabase,
  openPgliteTestDatabase as openPglite,
  openPostgresTestDatabase as openPostgres,
} from '@gatehouse/db/testing';
import { migrate } from './migrations.ts';
import type { Database } from './schema.ts';

export { createPostgresDatabase, silentLog, testDatabaseUrl } from '@gatehouse/db/testing';

/** A migrated identity database for one test file, and how to throw it away. */
export type TestDatabase = AnyTestDatabase<Database>;

/** For tests that send no mail worth reading: the queue takes every job and drops it. */
export const discardMail = { enqueue: async () => {} };

/** For tests that record no audit event: a queue with nothing in it for identity's writer. */
export const noAuditEvents = { consume: async () => ({ stop: async () => {} }) };

/** A migrated identity database on the real Postgres (TEST_DATABASE_URL). */
export const openPostgresTestDatabase = (): Promise<TestDatabase> => openPostgres(migrate);

/** A migrated identity database in PGlite, in a temporary directory. */
export const openPgliteTestDatabase = (): Promise<TestDatabase> => openPglite(migrate);
