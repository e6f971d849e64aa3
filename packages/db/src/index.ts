export { type OpenDatabaseOptions, openDatabase, pingDatabase } from './database.ts';
export {
  EmbeddedDatabaseUnavailable,
  isUnavailable,
  uniqueViolation,
  unstorableInput,
  withDatabaseErrors,
} from './errors.ts';
export { type RunMigrationsOptions, runMigrations } from './migrations.ts';
export { createPool, POOL_LIMITS } from './pool.ts';
