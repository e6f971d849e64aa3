import { openPgliteTestDatabase } from '../db/test-databases.ts';
import { invitationsContract } from './invitations.contract.ts';

// The embedded database (PGlite), as `gatehouse start` runs it.
invitationsContract('PGlite', openPgliteTestDatabase);
