import { randomBytes } from 'node:crypto';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { runMigrations } from '@gatehouse/db';
import { type Kysely, type Migration, sql } from 'kysely';
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
  '0003_users_mfa_enabled': {
    async up(db: AnyDb) {
      // Set by the mfa service when TOTP goes on or off: sign-ins read it to decide on a challenge.
      await db.schema
        .alterTable('users')
        .addColumn('mfa_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
    },
  },
  '0004_identities': {
    async up(db: AnyDb) {
      // A social provider's account linked to a user: found again by (provider, subject),
      // never by email, so a changed address at the provider still signs in the same user.
      await db.schema
        .createTable('identities')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('project_id', 'uuid', (c) => c.notNull().references('projects.id').onDelete('cascade'))
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('email_verified', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('identities_project_provider_subject_key', ['project_id', 'provider', 'subject'])
        .execute();
      await db.schema.createIndex('identities_user_idx').on('identities').column('user_id').execute();
    },
  },
  '0005_invitations': {
    async up(db: AnyDb) {
      // An invitation is a one-time token of purpose `invitation` (hash only, single use, retired
      // by a newer one to the same address) that also names the role it gives and who sent it.
      // `invited_by` is a record, not a reference: the invitation outlives its sender's account.
      await db.schema.alterTable('one_time_tokens').addColumn('role', 'text').addColumn('invited_by', 'uuid').execute();
      await db.schema
        .alterTable('one_time_tokens')
        .addCheckConstraint(
          'one_time_tokens_invitation_role_check',
          sql`(purpose = 'invitation') = (role is not null) and (role is null or role in ('admin', 'user'))`,
        )
        .execute();
      // The open invitations of a project, newest first (GET /admin/invitations).
      await db.schema
        .createIndex('one_time_tokens_open_invitations_idx')
        .on('one_time_tokens')
        .columns(['project_id', 'created_at'])
        .where(sql.ref('used_at'), 'is', null)
        .where(sql.ref('purpose'), '=', 'invitation')
        .execute();
    },
  },
  '0006_api_keys': {
    async up(db: AnyDb) {
      // A user's API keys: only a hash of each is stored (the key is shown once). A key dies
      // with its user; a revoked one is kept (revoked_at) until its user goes, for the record.
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('project_id', 'uuid', (c) => c.notNull().references('projects.id').onDelete('cascade'))
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('last_used_at', 'timestamptz')
        .addColumn('expires_at', 'timestamptz')
        .addColumn('revoked_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('api_keys_user_idx').on('api_keys').column('user_id').execute();
    },
  },
  '0007_audit_events': {
    async up(db: AnyDb) {
      // The audit log. No reference to users: an event outlives its user (the record of a
      // deleted account stays). None to projects either: a batch is written in one statement,
      // and one event naming an unknown project must not hold back the rest of its batch.
      await db.schema
        .createTable('audit_events')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('project_id', 'uuid', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('user_id', 'uuid')
        .addColumn('actor_id', 'uuid')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('at', 'timestamptz', (c) => c.notNull())
        .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .execute();
      // Newest first (ids are UUID v7), for the project, one user, or one type.
      await db.schema
        .createIndex('audit_events_project_idx')
        .on('audit_events')
        .expression(sql`project_id, id desc`)
        .execute();
      await db.schema
        .createIndex('audit_events_user_idx')
        .on('audit_events')
        .expression(sql`project_id, user_id, id desc`)
        .execute();
      await db.schema
        .createIndex('audit_events_type_idx')
        .on('audit_events')
        .expression(sql`project_id, type, id desc`)
        .execute();
    },
  },
  '0008_project_keys': {
    async up(db: AnyDb) {
      // A project's keys and settings. The publishable key names the project (safe in a
      // browser): every project gets a fresh one here, the default project included. The
      // secret key is stored as its SHA-256 (kit apiKeyHash) only; none exists until one is
      // made (a new project, or a rotation: the default project starts without one).
      await db.schema
        .alterTable('projects')
        .addColumn('publishable_key', 'text')
        .addColumn('secret_key_hash', 'text', (c) => c.unique())
        .addColumn('settings', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      const projects = await db.selectFrom('projects').select('id').execute();
      for (const { id } of projects) {
        const publishableKey = `pk_${randomBytes(32).toString('base64url')}`;
        await db.updateTable('projects').set({ publishable_key: publishableKey }).where('id', '=', id).execute();
      }
      await db.schema
        .alterTable('projects')
        .alterColumn('publishable_key', (c) => c.setNotNull())
        .execute();
      await db.schema
        .alterTable('projects')
        .addUniqueConstraint('projects_publishable_key_key', ['publishable_key'])
        .execute();
    },
  },
};

/** Any constant identifies "the identity schema migration" among advisory locks. */
const MIGRATION_LOCK_KEY = 0x6761_7465; // 'gate'

/**
 * Brings the identity schema to the latest migration; safe when several
 * replicas start at once (see @gatehouse/db `runMigrations`). Identity keeps
 * kysely's default bookkeeping tables (`kysely_migration`,
 * `kysely_migration_lock`), so databases migrated before the move still work.
 * Throws the first failing migration's error, or `service_unavailable`.
 */
export async function migrate(db: Kysely<Database>): Promise<void> {
  await runMigrations(db, migrations, { lockKey: MIGRATION_LOCK_KEY });
}
