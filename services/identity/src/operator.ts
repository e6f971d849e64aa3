// What the command-line tool (apps/cli) does to the identity database directly, with the
// service's own rules: canonical addresses, the configured argon2id cost, the same store.
import { DEFAULT_PROJECT_ID, Password, type UserRecord } from '@gatehouse/contracts';
import { AppError, type Config, requireEmail, validate } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import type { Database } from './db/schema.ts';
import { createPasswords } from './passwords/passwords.ts';
import { toUserRecord } from './users/user-record.ts';
import { PostgresUsersStore } from './users/users.store.ts';

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
