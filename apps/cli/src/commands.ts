import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '@gatehouse/db';
import { type Database, migrate as migrateIdentity } from '@gatehouse/identity';
import { createAdmin, createProject, listUsers, rotateProjectKeys } from '@gatehouse/identity/operator';
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

/** What the tool says after printing a secret key, and why a running gateway does not know yet. */
const SECRET_ONCE = 'The secret key is shown only this once (only its hash is stored): keep it somewhere safe now.';
const NO_BUS =
  'Running gateways pick this up within their project reload interval (30 s) or at restart: this tool cannot reach them.';

/**
 * `gatehouse project create <name>`: a new project with no settings of its
 * own; prints its id and keys, the secret once. False (and a line saying why)
 * for a name the API would refuse.
 */
export async function projectCreateCommand(options: CommandOptions, input: { name: string }): Promise<boolean> {
  return withDatabase(options, false, async (db) => {
    await migrateIdentity(db);
    try {
      const { project, secret_key } = await createProject(db, options.config, { name: input.name });
      options.print(`created project ${project.name} (${project.id})`);
      options.print(`publishable key: ${project.publishable_key}`);
      options.print(`secret key:      ${secret_key}`);
      options.print(SECRET_ONCE);
      options.print(NO_BUS);
      return true;
    } catch (err) {
      if (isAppError(err, 'validation_failed')) {
        options.print(err.message);
        return false;
      }
      throw err;
    }
  });
}

/**
 * `gatehouse project keys rotate <project-id>`: new publishable and secret
 * keys; the old ones are gone from the database at once. False (and a line)
 * when there is no such project.
 */
export async function projectKeysRotateCommand(
  options: CommandOptions,
  input: { projectId: string },
): Promise<boolean> {
  return withDatabase(options, false, async (db) => {
    await migrateIdentity(db);
    try {
      const { project, publishable_key, secret_key } = await rotateProjectKeys(db, options.config, input.projectId);
      options.print(`rotated the keys of project ${project.name} (${project.id}); the old keys no longer work`);
      options.print(`publishable key: ${publishable_key}`);
      options.print(`secret key:      ${secret_key}`);
      options.print(SECRET_ONCE);
      options.print(NO_BUS);
      return true;
    } catch (err) {
      if (isAppError(err, 'not_found', 'validation_failed')) {
        options.print(`no project ${input.projectId}`);
        return false;
      }
      throw err;
    }
  });
}
