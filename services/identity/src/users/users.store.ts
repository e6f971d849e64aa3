import { AppError, newId, normalizeEmail, requireEmail } from '@gatehouse/kit';
import { type Kysely, sql, type Transaction } from 'kysely';
import { uniqueViolation, withDatabaseErrors } from '../db/errors.ts';
import type { Database, Role, UserRow, UserRowUpdate } from '../db/schema.ts';
import { checkMetadataSize, type Metadata, mergeMetadata } from './metadata.ts';

export type { UserRow } from '../db/schema.ts';

/** A user to create. The email is stored in its canonical form (kit `normalizeEmail`). */
export interface NewUser {
  projectId: string;
  email: string | null;
  passwordHash: string | null;
  role: Role;
  name?: string | null;
  avatarUrl?: string | null;
  metadata?: Metadata;
  emailVerified?: boolean;
}

/** Fields to change; absent fields stay. `metadataPatch` is shallow-merged (a null value removes its key). */
export interface UserChanges {
  email?: string;
  passwordHash?: string | null;
  role?: Role;
  name?: string | null;
  avatarUrl?: string | null;
  metadataPatch?: Metadata;
  emailVerified?: boolean;
  banned?: boolean;
  mfaEnabled?: boolean;
}

/**
 * Conditions the row must still meet for an update to apply (compare and
 * set): a rule checked on a read stays true at the write, whatever ran in between.
 */
export interface UserGuard {
  role?: Role;
  passwordHash?: string;
  /** The address is still this one (a one-time token proves control of one address). */
  email?: string;
}

/**
 * What the users feature needs from storage. Emails are stored and compared
 * in their canonical form (kit `normalizeEmail`: NFC, lower case, one form of
 * the domain), so two spellings of one mailbox are one account. Every method
 * throws AppError `service_unavailable` when the database is down.
 */
export interface UsersStore {
  /**
   * Throws `email_taken` when the project already has that email;
   * `validation_failed` for an email that is not one acceptable address, or oversized metadata.
   */
  create(user: NewUser): Promise<UserRow>;
  findById(projectId: string, id: string): Promise<UserRow | null>;
  /** Null as well for an email that is not an acceptable address: no account can have it. */
  findByEmail(projectId: string, email: string): Promise<UserRow | null>;
  /**
   * Null when no such user, or when it no longer meets `guard`.
   * Throws `email_taken` or `validation_failed` like `create`.
   */
  update(projectId: string, id: string, changes: UserChanges, guard?: UserGuard): Promise<UserRow | null>;
  /** True when a user was deleted. */
  delete(projectId: string, id: string): Promise<boolean>;
  hasAdmin(projectId: string): Promise<boolean>;
  /**
   * A page of the project's users, newest first (ids are time ordered), those
   * with an id below `before` when given; `search` matches a part of the email
   * or the name in any case (`%` and `_` are plain characters).
   */
  list(projectId: string, query: { search?: string; limit: number; before?: string }): Promise<UserRow[]>;
  /**
   * `update` for an admin's change, unless it would leave the project with no
   * admin who can sign in (none with role `admin` and not banned): then it
   * throws `last_admin` and nothing changes. Changes to one project's admins
   * run one at a time, so two admins demoting each other cannot both succeed.
   */
  updateKeepingAnAdmin(projectId: string, id: string, changes: UserChanges): Promise<UserRow | null>;
  /** `delete` with the same rule; the deleted row, or null when there was none. */
  deleteKeepingAnAdmin(projectId: string, id: string): Promise<UserRow | null>;
}

const lastAdmin = () =>
  new AppError('last_admin', 'the project would have no admin left: make another user admin first');

/** `search` as a LIKE pattern that matches it anywhere, its own wildcards escaped. */
const containing = (search: string): string => `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** The stored form of an email to write; throws `validation_failed` for one that is not acceptable. */
const storedEmail = (email: string): string => requireEmail(email);
/**
 * A guard compares with a value read from the database (a token's address):
 * only trimmed and lower-cased, as before, so an address stored before the
 * canonical form existed still matches itself.
 */
const lower = (email: string): string => email.trim().toLowerCase();

/** The unique violation of (project_id, email) is the one expected conflict: a taken email. */
function conflicts(err: unknown): never {
  if (uniqueViolation(err) === 'users_project_email_key') {
    throw new AppError('email_taken', 'this email is already registered', { cause: err });
  }
  throw err;
}

function toColumns(changes: UserChanges): UserRowUpdate {
  const set: UserRowUpdate = {};
  if (changes.email !== undefined) set.email = storedEmail(changes.email);
  if (changes.passwordHash !== undefined) set.password_hash = changes.passwordHash;
  if (changes.role !== undefined) set.role = changes.role;
  if (changes.name !== undefined) set.name = changes.name;
  if (changes.avatarUrl !== undefined) set.avatar_url = changes.avatarUrl;
  if (changes.emailVerified !== undefined) set.email_verified = changes.emailVerified;
  if (changes.banned !== undefined) set.banned = changes.banned;
  if (changes.mfaEnabled !== undefined) set.mfa_enabled = changes.mfaEnabled;
  return set;
}

/** UsersStore over kysely: runs on node-postgres and on PGlite alike. */
export class PostgresUsersStore implements UsersStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async create(user: NewUser): Promise<UserRow> {
    const metadata = user.metadata ?? {};
    checkMetadataSize(metadata);
    const email = user.email === null ? null : storedEmail(user.email);
    return withDatabaseErrors(() =>
      this.#db
        .insertInto('users')
        .values({
          id: newId(),
          project_id: user.projectId,
          email,
          email_verified: user.emailVerified ?? false,
          password_hash: user.passwordHash,
          name: user.name ?? null,
          avatar_url: user.avatarUrl ?? null,
          role: user.role,
          metadata: JSON.stringify(metadata),
        })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch(conflicts),
    );
  }

  async findById(projectId: string, id: string): Promise<UserRow | null> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .selectFrom('users')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('id', '=', id)
        .executeTakeFirst(),
    );
    return row ?? null;
  }

  async findByEmail(projectId: string, email: string): Promise<UserRow | null> {
    const address = normalizeEmail(email);
    if (address === null) return null;
    const row = await withDatabaseErrors(() =>
      this.#db
        .selectFrom('users')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('email', '=', address)
        .executeTakeFirst(),
    );
    return row ?? null;
  }

  async update(projectId: string, id: string, changes: UserChanges, guard: UserGuard = {}): Promise<UserRow | null> {
    const set = toColumns(changes);
    const patch = changes.metadataPatch;
    if (patch === undefined) return withDatabaseErrors(() => this.#write(this.#db, projectId, id, set, guard));
    // Merging needs the current value: lock the row so two concurrent patches
    // cannot both read the old object and lose one another's keys.
    return withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        const merged = await this.#mergedMetadata(trx, projectId, id, patch);
        if (merged === null) return null;
        set.metadata = merged;
        // `trx`, never `this.#db`: PGlite's one connection is held by this transaction.
        return this.#write(trx, projectId, id, set, guard);
      }),
    );
  }

  async delete(projectId: string, id: string): Promise<boolean> {
    const result = await withDatabaseErrors(() =>
      this.#db.deleteFrom('users').where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst(),
    );
    return result.numDeletedRows > 0n;
  }

  async hasAdmin(projectId: string): Promise<boolean> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .selectFrom('users')
        .select(sql<number>`1`.as('one'))
        .where('project_id', '=', projectId)
        .where('role', '=', 'admin')
        .limit(1)
        .executeTakeFirst(),
    );
    return row !== undefined;
  }

  async list(projectId: string, query: { search?: string; limit: number; before?: string }): Promise<UserRow[]> {
    return withDatabaseErrors(() => {
      let q = this.#db.selectFrom('users').selectAll().where('project_id', '=', projectId);
      if (query.before !== undefined) q = q.where('id', '<', query.before);
      const search = query.search?.trim();
      if (search) {
        const pattern = containing(search);
        q = q.where((eb) => eb.or([eb('email', 'ilike', pattern), eb('name', 'ilike', pattern)]));
      }
      return q.orderBy('id', 'desc').limit(query.limit).execute();
    });
  }

  async updateKeepingAnAdmin(projectId: string, id: string, changes: UserChanges): Promise<UserRow | null> {
    return this.#keepingAnAdmin(projectId, async (trx) => {
      const set = toColumns(changes);
      if (changes.metadataPatch !== undefined) {
        const merged = await this.#mergedMetadata(trx, projectId, id, changes.metadataPatch);
        if (merged === null) return null;
        set.metadata = merged;
      }
      return this.#write(trx, projectId, id, set, {});
    });
  }

  async deleteKeepingAnAdmin(projectId: string, id: string): Promise<UserRow | null> {
    return this.#keepingAnAdmin(projectId, async (trx) => {
      const row = await trx
        .deleteFrom('users')
        .where('project_id', '=', projectId)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return row ?? null;
    });
  }

  /**
   * The user's metadata with `patch` merged in, as JSON, the row locked until the transaction
   * ends (two concurrent patches cannot both read the old object); null when no such user.
   */
  async #mergedMetadata(
    trx: Transaction<Database>,
    projectId: string,
    id: string,
    patch: Metadata,
  ): Promise<string | null> {
    const current = await trx
      .selectFrom('users')
      .select('metadata')
      .where('project_id', '=', projectId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    return current ? JSON.stringify(mergeMetadata(current.metadata, patch)) : null;
  }

  /** Runs `change` with the project's row locked, and undoes it when no admin who can sign in is left. */
  async #keepingAnAdmin(
    projectId: string,
    change: (trx: Transaction<Database>) => Promise<UserRow | null>,
  ): Promise<UserRow | null> {
    return withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        // The project's row is the lock every admin change of the project takes first.
        await trx.selectFrom('projects').select('id').where('id', '=', projectId).forUpdate().executeTakeFirst();
        const before = await this.#signInAdmins(trx, projectId);
        const row = await change(trx);
        // A project that had no such admin (a new one, before its first) is not held to the rule.
        if (row && before > 0 && (await this.#signInAdmins(trx, projectId)) === 0) throw lastAdmin();
        return row;
      }),
    );
  }

  async #signInAdmins(trx: Transaction<Database>, projectId: string): Promise<number> {
    const { count } = await trx
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('project_id', '=', projectId)
      .where('role', '=', 'admin')
      .where('banned', '=', false)
      .executeTakeFirstOrThrow();
    return Number(count);
  }

  async #write(
    db: Kysely<Database> | Transaction<Database>,
    projectId: string,
    id: string,
    set: UserRowUpdate,
    guard: UserGuard,
  ): Promise<UserRow | null> {
    let query = db
      .updateTable('users')
      // The database's clock, like created_at's default, so the two never disagree.
      .set({ ...set, updated_at: sql`now()` })
      .where('project_id', '=', projectId)
      .where('id', '=', id);
    if (guard.role !== undefined) query = query.where('role', '=', guard.role);
    if (guard.passwordHash !== undefined) query = query.where('password_hash', '=', guard.passwordHash);
    if (guard.email !== undefined) query = query.where('email', '=', lower(guard.email));
    const row = await query.returningAll().executeTakeFirst().catch(conflicts);
    return row ?? null;
  }
}
