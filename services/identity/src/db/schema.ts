import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** A timestamptz column the database fills (`default now()`); read back as a Date. */
type CreatedAt = ColumnType<Date, never, never>;
/** A timestamptz column the database fills; updates set it to the database clock (`now()`). */
type UpdatedAt = ColumnType<Date, never, never>;
/**
 * A jsonb column: read as the parsed object, written as JSON text, because
 * node-postgres would serialize a JS array as a Postgres array, not as JSON.
 */
type Json = ColumnType<Record<string, unknown>, string | undefined, string>;

export interface ProjectsTable {
  id: string;
  name: string;
  /** `pk_` and 43 base64url characters: names the project in a request, safe in a browser. */
  publishable_key: string;
  /** SHA-256 of the secret key (`sk_...`, kit apiKeyHash), shown once; null until one is made (the default project). */
  secret_key_hash: ColumnType<string | null, string | null | undefined, string | null>;
  /** The project's ProjectSettings (contracts), each in place of the instance's setting when set. */
  settings: Json;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type Role = 'admin' | 'user' | 'guest';

export interface UsersTable {
  id: string;
  project_id: string;
  /** Always stored lower case (a check constraint holds it), so uniqueness is case-insensitive. */
  email: string | null;
  email_verified: Generated<boolean>;
  /** An argon2id PHC string; null for users who never set a password (guests). */
  password_hash: string | null;
  name: string | null;
  avatar_url: string | null;
  role: Role;
  metadata: Json;
  banned: Generated<boolean>;
  /** TOTP is on (the mfa service says so): a first factor leads to an MFA challenge. */
  mfa_enabled: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type TokenPurpose = 'verify_email' | 'reset_password' | 'magic_link' | 'invitation';

export interface OneTimeTokensTable {
  id: string;
  project_id: string;
  /** Null for a magic link to an address that has no user yet. */
  user_id: string | null;
  /** The address the token was mailed to (lower case): it proves control of this address only. */
  email: string;
  purpose: TokenPurpose;
  /** Only a hash of the token is stored: a database leak yields no usable token. */
  token_hash: string;
  expires_at: Date;
  /** When it was used, retired by a newer token of its address and purpose, or (an invitation) revoked. */
  used_at: Date | null;
  /** The role an invitation gives; set for purpose `invitation` only (a check constraint holds it). */
  role: ColumnType<'admin' | 'user' | null, 'admin' | 'user' | null | undefined, never>;
  /** Who sent an invitation (a user id, kept when that user is deleted); null for other purposes. */
  invited_by: ColumnType<string | null, string | null | undefined, never>;
  created_at: CreatedAt;
}

/** A social provider's account, linked to one user. */
export interface IdentitiesTable {
  id: string;
  project_id: string;
  user_id: string;
  /** The provider's id (`google`, `github`, `twitter`, or a configured OpenID Connect name). */
  provider: string;
  /** The provider's stable id of the account (`sub`, GitHub's numeric id, X's id): what identifies it. */
  subject: string;
  /** The address the provider last gave (lower case), for display; null when it gives none (X). */
  email: string | null;
  email_verified: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** A user's API key: its hash, never the key. */
export interface ApiKeysTable {
  id: string;
  project_id: string;
  user_id: string;
  name: string;
  /** `uk_` and the key's next 8 characters, for display. */
  prefix: string;
  /** SHA-256 of the whole key (kit `apiKeyHash`). */
  key_hash: string;
  created_at: CreatedAt;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}

/** One audit event (contracts AuditEvent): who, where and when, and an allow-listed `data`. */
export interface AuditEventsTable {
  /** A UUID v7: the list's order and cursor. */
  id: string;
  project_id: string;
  type: string;
  /** Not a reference: the event outlives its user. */
  user_id: string | null;
  actor_id: string | null;
  ip: string | null;
  user_agent: string | null;
  /** When it happened, at its producer. */
  at: Date;
  data: Json;
}

/** The identity database, as kysely sees it. */
export interface Database {
  projects: ProjectsTable;
  users: UsersTable;
  one_time_tokens: OneTimeTokensTable;
  identities: IdentitiesTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
}

export type ProjectRow = Selectable<ProjectsTable>;
export type UserRow = Selectable<UsersTable>;
export type OneTimeTokenRow = Selectable<OneTimeTokensTable>;
export type IdentityRow = Selectable<IdentitiesTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserRowUpdate = Updateable<UsersTable>;
