import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '@gatehouse/db';
import { type Database, migrate as migrateIdentity } from '@gatehouse/identity';
import { createAdmin, listUsers } from '@gatehouse/identity/operator';
import { type Config, isAppError, type Logger } from '@gatehouse/kit';
import { migrate as migrateMfa } from '@gatehouse/mfa';
import type { Kysely } from 'kysely';

export interface CommandOptions {
  config: Config;
  log: Logger;
  print: (line: string) => void;
}

/**
 * Opens the database the services use: DATABASE_URL in the stack, the
 * embedded one in DATA_DIR otherwise (then Gatehouse must be stopped: PGlite
 * serves one process at a time). `create`: make an embedded one when there is
 * none yet (`migrate` on a fresh machine); the other commands refuse.
 */
async function withDatabase<T>(
  options: CommandOptions,
  create: boolean,
  run: (db: Kysely<Database>) => Promise<T>,
): Promise<T> {
  const { config, log } = options;
  if (!config.databaseUrl && !create && !existsSync(join(config.dataDir, 'pgdata'))) {
    throw new Error(
      `no DATABASE_URL and no embedded database in ${join(config.dataDir, 'pgdata')} (start Gatehouse once, or run migrate)`,
    );
  }
  const db = await openDatabase<Database>({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
  try {
    return await run(db);
  } finally {
    await db.destroy();
  }
}

/** `gatehouse migrate`: brings the identity and mfa schemas up to date (safe to run again, and beside running replicas). */
export async function migrateCommand(options: CommandOptions): Promise<void> {
  await withDatabase(options, true, async (db) => {
    await migrateIdentity(db);
    await migrateMfa(db);
  });
  options.print('migrations: identity and mfa are up to date');
}

/** `gatehouse admin create <email>`: the password comes from standard input, never the command line. */
export async function adminCreateCommand(
  options: CommandOptions,
  input: { email: string; password: string; name?: string },
): Promise<boolean> {
  return withDatabase(options, false, async (db) => {
    await migrateIdentity(db);
    try {
      const user = await createAdmin(db, options.config, input);
      options.print(`created admin ${user.email} (${user.id})`);
      return true;
    } catch (err) {
      if (isAppError(err, 'email_taken')) {
        options.print(
          `${input.email} already has an account: an admin can make it admin with PATCH /admin/users/{id} {"role":"admin"}`,
        );
        return false;
      }
      if (isAppError(err, 'validation_failed')) {
        options.print(err.message);
        return false;
      }
      throw err;
    }
  });
}

/** `gatehouse users list [--search S] [--limit N]`: one line per user, newest first. */
export async function usersListCommand(
  options: CommandOptions,
  query: { search?: string; limit: number },
): Promise<void> {
  await withDatabase(options, false, async (db) => {
    const users = await listUsers(db, query);
    if (users.length === 0) {
      options.print('no users');
      return;
    }
    options.print(['id', 'email', 'role', 'verified', 'banned', 'created_at'].join('\t'));
    for (const u of users) {
      options.print(
        [
          u.id,
          u.email ?? '(guest)',
          u.role,
          u.email_verified ? 'yes' : 'no',
          u.banned ? 'yes' : 'no',
          u.created_at,
        ].join('\t'),
      );
    }
  });
}
