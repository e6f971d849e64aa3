import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { withDatabaseErrors } from './errors.ts';
import type { Database } from './schema.ts';

// Migrations take `Kysely<any>`: they must not depend on today's types, which
// describe the schema after the last migration, not the one they start from.
// biome-ignore lint/suspicious/noExplicitAny: see above; kysely's documented way to type migrations.
type AnyDb = Kysely<any>;

/**
 * Every migration, in order. Kept in code (no folder scanning) so the bundle,
 * the tests and both run modes apply exactly the same list. Never edit an
 * applied migration: add the next one.
 */
const migrations: Record<string, Migration> = {
  '0001_projects_users_tokens': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('projects')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.insertInto('projects').values({ id: DEFAULT_PROJECT_ID, name: 'Default' }).execute();

      await db.schema
        .createTable('users')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('project_id', 'uuid', (c) => c.notNull().references('projects.id').onDelete('cascade'))
        .addColumn('email', 'text')
        .addColumn('email_verified', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('password_hash', 'text')
        .addColumn('name', 'text')
        .addColumn('avatar_url', 'text')
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('banned', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addCheckConstraint('users_role_check', sql`role in ('admin', 'user', 'guest')`)
        // Emails are stored lower case, so this plain unique index is case-insensitive.
        .addCheckConstraint('users_email_lower_check', sql`email = lower(email)`)
        .addUniqueConstraint('users_project_email_key', ['project_id', 'email'])
        .execute();

      await db.schema
        .createTable('one_time_tokens')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('project_id', 'uuid', (c) => c.notNull().references('projects.id').onDelete('cascade'))
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('used_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('one_time_tokens_user_idx').on('one_time_tokens').column('user_id').execute();
    },
  },
  '0002_one_time_tokens_email': {
    async up(db: AnyDb) {
      // A magic link may be sent to an address with no user yet: the token names the
      // address, and the user (if any) it was issued for. No rows exist before this.
      await db.schema
        .alterTable('one_time_tokens')
        .alterColumn('user_id', (c) => c.dropNotNull())
        .execute();
      await db.schema
        .alterTable('one_time_tokens')
        .addColumn('email', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('one_time_tokens_open_idx')
        .on('one_time_tokens')
        .columns(['project_id', 'email', 'purpose'])
        .where(sql.ref('used_at'), 'is', null)
        .execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Any constant identifies "the identity schema migration" among advisory locks. */
const MIGRATION_LOCK_KEY = 0x6761_7465; // 'gate'

/**
 * Brings the schema to the latest migration. Safe when several identity
 * replicas start at once: a session-level advisory lock, held on one
 * connection for the whole run, makes the others wait and then find nothing
 * to do (kysely's own lock does not cover creating its bookkeeping tables).
 * The lock is polled with `pg_try_advisory_lock` rather than awaited, so no
 * statement waits long enough to hit the pool's statement and query timeouts.
 * Throws the first failing migration's error, or `service_unavailable`.
 */
export async function migrate(db: Kysely<Database>): Promise<void> {
  await withDatabaseErrors(() =>
    // One connection for lock, migrations and unlock; on PGlite (a single
    // connection) this also keeps every statement on the handle we hold.
    db.connection().execute(async (conn) => {
      for (;;) {
        const { rows } = await sql<{
          locked: boolean;
        }>`select pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) as locked`.execute(conn);
        if (rows[0]?.locked) break;
        await sleep(100);
      }
      try {
        const { error } = await new Migrator({ db: conn, provider }).migrateToLatest();
        if (error) throw error;
      } finally {
        await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn);
      }
    }),
  );
}
