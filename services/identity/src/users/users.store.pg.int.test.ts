import { openPostgresTestDatabase } from '../db/test-databases.ts';
import { usersStoreContract } from './users.store.contract.ts';

// Real Postgres from TEST_DATABASE_URL; a fresh gh_test_* database, dropped afterwards.
usersStoreContract('Postgres', openPostgresTestDatabase);
