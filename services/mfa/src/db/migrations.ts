import { runMigrations } from '@gatehouse/db';
import { type Kysely, type Migration, sql } from 'kysely';

// Migrations take `Kysely<any>`: they must not depend on today's types, which
// describe the schema after the last migration, not the one they start from.
// biome-ignore lint/suspicious/noExplicitAny: see above; kysely's documented way to type migrations.
type AnyDb = Kysely<any>;

/**
 * Every mfa migration, in order. The tables carry `project_id` but no foreign
 * key to identity's tables: in the stack the two services may own different
 * databases; `events.user.deleted` cleans up instead. Never edit an applied
 * migration: add the next one.
 */
const migrations: Record<string, Migration> = {
  '0001_totp_recovery_challenges_passkeys': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('mfa_totp')
        .addColumn('project_id', 'uuid', (c) => c.notNull())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('secret_sealed', 'text')
        .addColumn('pending_secret_sealed', 'text')
        .addColumn('enabled_at', 'timestamptz')
        .addColumn('last_used_step', 'bigint')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('mfa_totp_pkey', ['project_id', 'user_id'])
        .execute();

      await db.schema
        .createTable('mfa_recovery_codes')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('project_id', 'uuid', (c) => c.notNull())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('code_hash', 'text', (c) => c.notNull())
        .addColumn('used_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      // A code is looked up by its hash: one index probe.
      await db.schema
        .createIndex('mfa_recovery_codes_lookup_idx')
        .on('mfa_recovery_codes')
        .columns(['project_id', 'user_id', 'code_hash'])
        .unique()
        .execute();

      await db.schema
        .createTable('mfa_challenges')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('project_id', 'uuid', (c) => c.notNull())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('amr', 'jsonb', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('used_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('mfa_challenges_user_idx').on('mfa_challenges').column('user_id').execute();
      await db.schema.createIndex('mfa_challenges_expires_idx').on('mfa_challenges').column('expires_at').execute();

      await db.schema
        .createTable('mfa_webauthn_challenges')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('project_id', 'uuid', (c) => c.notNull())
        .addColumn('user_id', 'uuid')
        .addColumn('mfa_challenge_id', 'uuid')
        .addColumn('ceremony', 'text', (c) => c.notNull())
        .addColumn('challenge', 'text', (c) => c.notNull().unique())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('used_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addCheckConstraint(
          'mfa_webauthn_challenges_ceremony_check',
          sql`ceremony in ('registration', 'authentication')`,
        )
        .execute();
      await db.schema
        .createIndex('mfa_webauthn_challenges_user_idx')
        .on('mfa_webauthn_challenges')
        .column('user_id')
        .execute();
      await db.schema
        .createIndex('mfa_webauthn_challenges_expires_idx')
        .on('mfa_webauthn_challenges')
        .column('expires_at')
        .execute();

      await db.schema
        .createTable('mfa_passkeys')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('project_id', 'uuid', (c) => c.notNull())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('credential_id', 'text', (c) => c.notNull())
        .addColumn('public_key', 'bytea', (c) => c.notNull())
        .addColumn('counter', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('transports', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('last_used_at', 'timestamptz')
        .addUniqueConstraint('mfa_passkeys_credential_key', ['project_id', 'credential_id'])
        .execute();
      await db.schema.createIndex('mfa_passkeys_user_idx').on('mfa_passkeys').column('user_id').execute();
    },
  },
  '0002_recovery_code_keys': {
    async up(db: AnyDb) {
      // Recovery-code HMAC keys of earlier SECRET_KEYs, sealed under the current one, so that
      // codes issued before a rotation keep working once the old key is gone (`keys rotate`).
      await db.schema
        .createTable('mfa_recovery_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('key_sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
    },
  },
  '0003_code_failures': {
    async up(db: AnyDb) {
      // One budget of wrong second-factor codes per user, across every route that checks one.
      await db.schema
        .createTable('mfa_code_failures')
        .addColumn('project_id', 'uuid', (c) => c.notNull())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('window_started_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('mfa_code_failures_pkey', ['project_id', 'user_id'])
        .execute();
    },
  },
};

/** The mfa schema's advisory lock; identity's is 0x67617465 ('gate'). */
const MIGRATION_LOCK_KEY = 0x6d66_6131; // 'mfa1'

/**
 * Brings the mfa schema to its latest migration. Its bookkeeping tables
 * (`mfa_migration`, `mfa_migration_lock`) and advisory lock are its own, so it
 * can share a database with identity (embedded mode) without either seeing
 * the other's migrations. Safe when replicas start at once. Throws the first
 * failing migration's error, or `service_unavailable`.
 */
export async function migrate<DB>(db: Kysely<DB>): Promise<void> {
  await runMigrations(db, migrations, {
    lockKey: MIGRATION_LOCK_KEY,
    migrationTableName: 'mfa_migration',
    migrationLockTableName: 'mfa_migration_lock',
  });
}
