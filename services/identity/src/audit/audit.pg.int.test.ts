import { openPostgresTestDatabase } from '../db/test-databases.ts';
import { auditStoreContract } from './audit.store.contract.ts';

// Real Postgres from TEST_DATABASE_URL; a fresh gh_test_* database, dropped afterwards.
auditStoreContract('Postgres', openPostgresTestDatabase);
