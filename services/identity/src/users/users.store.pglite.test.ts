import { openPgliteTestDatabase } from '../db/test-databases.ts';
import { usersStoreContract } from './users.store.contract.ts';

usersStoreContract('PGlite', openPgliteTestDatabase);
