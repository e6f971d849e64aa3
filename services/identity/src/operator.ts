// What the command-line tool (apps/cli) does to the identity database directly, with the
// service's own rules: canonical addresses, the configured argon2id cost, the same store.
import {
  DEFAULT_PROJECT_ID,
  Password,
  type Project,
  type ProjectSettings,
  type UserRecord,
  Uuid,
} from '@gatehouse/contracts';
import { AppError, type Config, requireEmail, validate } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import type { Database } from './db/schema.ts';
import { createPasswords } from './passwords/passwords.ts';
import { ProjectsStore, toProject } from './projects/projects.store.ts';
import { Projects } from './projects/projects.ts';
import { toUserRecord } from './users/user-record.ts';
import { PostgresUsersStore } from './users/users.store.ts';

/** The project every deployment starts with (`project keys rotate default`). */
export { DEFAULT_PROJECT_ID };

/**
 * Creates an admin of the default project with a verified address (the
 * operator vouches for it). Throws `validation_failed` for an address or a
 * password the API would refuse, `email_taken` when the address has an
 * account (make it admin through PATCH /admin/users/{id}: that also ends its
 * sessions, which this tool cannot reach).
 */
export async function createAdmin(
  db: Kysely<Database>,
  config: Pick<Config, 'passwordHash'>,
  input: { email: string; password: string; name?: string },
): Promise<UserRecord> {
  const email = requireEmail(input.email, 'email');
  try {
    validate(Password, input.password, 'password');
  } catch {
    throw new AppError('validation_failed', 'the password must be 8 to 128 characters');
  }
  const passwords = await createPasswords(config.passwordHash);
  const row = await new PostgresUsersStore(db).create({
    projectId: DEFAULT_PROJECT_ID,
    email,
    passwordHash: await passwords.hash(input.password),
    role: 'admin',
    name: input.name ?? null,
    emailVerified: true,
  });
  return toUserRecord(row);
}

/** The default project's users, newest first, those matching `search` (email or name) when given. */
export async function listUsers(
  db: Kysely<Database>,
  query: { search?: string; limit: number },
): Promise<UserRecord[]> {
  const rows = await new PostgresUsersStore(db).list(DEFAULT_PROJECT_ID, query);
  return rows.map(toUserRecord);
}

/**
 * The projects code the service runs, without a bus: the tool cannot publish
 * `events.project.changed`, so running gateways see a change when they reload
 * their project directory (periodically, and at restart).
 */
const operatorProjects = (db: Kysely<Database>, config: Pick<Config, 'accessTokenTtl' | 'refreshTokenTtl'>) =>
  new Projects({ store: new ProjectsStore(db), limits: config, changed: async () => {} });

/**
 * A new project, its secret key in this answer only (stored as a hash).
 * Throws `validation_failed` (a blank name, settings the API would refuse).
 */
export async function createProject(
  db: Kysely<Database>,
  config: Pick<Config, 'accessTokenTtl' | 'refreshTokenTtl'>,
  input: { name: string; settings?: ProjectSettings },
): Promise<{ project: Project; secret_key: string }> {
  return operatorProjects(db, config).create(input);
}

/**
 * New publishable and secret keys for the project (`DEFAULT_PROJECT_ID` for
 * the default one); the old ones are gone from the database at once. Throws
 * `not_found`, or `validation_failed` for an id that is not a UUID.
 */
export async function rotateProjectKeys(
  db: Kysely<Database>,
  config: Pick<Config, 'accessTokenTtl' | 'refreshTokenTtl'>,
  projectId: string,
): Promise<{ project: Project; publishable_key: string; secret_key: string }> {
  validate(Uuid, projectId, 'project id');
  const projects = operatorProjects(db, config);
  const keys = await projects.rotateKeys(projectId);
  return { project: await projects.get(projectId), ...keys };
}

/** Every project, oldest first (the default project leads). */
export async function listProjects(db: Kysely<Database>): Promise<Project[]> {
  return (await new ProjectsStore(db).list()).map(toProject);
}
