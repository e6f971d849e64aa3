import { openPostgresTestDatabase } from '../db/test-databases.ts';
import { invitationsContract } from './invitations.contract.ts';

// Real Postgres from TEST_DATABASE_URL; a fresh gh_test_* database, dropped afterwards.
invitationsContract('Postgres', openPostgresTestDatabase);
