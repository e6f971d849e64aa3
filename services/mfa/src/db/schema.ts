import type { ColumnType, Generated, Selectable } from 'kysely';

/** A timestamptz column the database fills (`default now()`); read back as a Date. */
type CreatedAt = ColumnType<Date, Date | undefined, never>;
/**
 * A bigint column, written as a number. Read back as a string by node-postgres
 * (an int8 may not fit a JS number) and as a number by PGlite: callers take
 * `Number(...)` of it. Time steps and signature counters fit easily.
 */
type BigIntColumn = ColumnType<string | number, number, number>;
/** A jsonb column holding a string list, written as JSON text. */
type JsonList = ColumnType<string[], string, string>;

/** One row per user who has started or finished TOTP setup. */
export interface TotpTable {
  project_id: string;
  user_id: string;
  /** The enabled secret, sealed (AES-256-GCM under SECRET_KEY, `v2.<kid>.` or legacy `v1.`); null while only a setup is pending. */
  secret_sealed: string | null;
  /** A setup's secret, sealed, until a valid code enables it; a new setup replaces it. */
  pending_secret_sealed: string | null;
  enabled_at: Date | null;
  /** The last accepted TOTP time step: a code of this step or an older one is a replay. */
  last_used_step: BigIntColumn | null;
  created_at: CreatedAt;
}

export interface RecoveryCodesTable {
  id: string;
  project_id: string;
  user_id: string;
  /** HMAC-SHA256 (hex) of the normalized code, under a key derived from SECRET_KEY (or an earlier one: see RecoveryKeysTable). */
  code_hash: string;
  used_at: Date | null;
  created_at: CreatedAt;
}

/**
 * The recovery-code HMAC key of an earlier SECRET_KEY (named by its `keyId`),
 * sealed under the current one: written by `keys rotate`, so that codes hashed
 * under it still verify once that SECRET_KEY is gone.
 */
export interface RecoveryKeysTable {
  kid: string;
  key_sealed: string;
  created_at: CreatedAt;
}

/** A sign-in waiting for its second factor (the MfaChallenge's `mfa_token`). */
export interface ChallengesTable {
  id: string;
  project_id: string;
  user_id: string;
  /** SHA-256 (hex) of the token: 256 random bits need no salt or stretching. */
  token_hash: string;
  /** The first factor's `amr`, which the second one extends. */
  amr: JsonList;
  /** Tries so far, right or wrong; the fifth is the last. */
  attempts: Generated<number>;
  expires_at: Date;
  used_at: Date | null;
  created_at: CreatedAt;
}

export type WebAuthnCeremony = 'registration' | 'authentication';

/** A WebAuthn challenge handed out with options; single use, 5 minutes. */
export interface WebAuthnChallengesTable {
  id: string;
  project_id: string;
  /** The user it was made for: always for a registration; null for a usernameless sign-in. */
  user_id: string | null;
  /** Set when the options complete an MFA challenge: then only `mfa.challenge.verify` may use it. */
  mfa_challenge_id: string | null;
  ceremony: WebAuthnCeremony;
  /** The challenge as base64url, as it comes back in clientDataJSON. */
  challenge: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: CreatedAt;
}

export interface PasskeysTable {
  id: string;
  project_id: string;
  user_id: string;
  /** The credential id, base64url, as the authenticator names it. */
  credential_id: string;
  /** The COSE public key. */
  public_key: Uint8Array;
  /** The authenticator's signature counter (0 for authenticators that keep none). */
  counter: BigIntColumn;
  transports: JsonList;
  name: string;
  created_at: CreatedAt;
  last_used_at: Date | null;
}

/** The mfa schema, as kysely sees it. */
/** The wrong codes of a user in the current window (the per-user code budget). */
export interface CodeFailuresTable {
  project_id: string;
  user_id: string;
  /** Attempts claimed in the window: wrong ones, and ones still being checked. */
  attempts: number;
  window_started_at: Date;
}

export interface MfaDatabase {
  mfa_code_failures: CodeFailuresTable;
  mfa_totp: TotpTable;
  mfa_recovery_codes: RecoveryCodesTable;
  mfa_recovery_keys: RecoveryKeysTable;
  mfa_challenges: ChallengesTable;
  mfa_webauthn_challenges: WebAuthnChallengesTable;
  mfa_passkeys: PasskeysTable;
}

export type TotpRow = Selectable<TotpTable>;
export type RecoveryCodeRow = Selectable<RecoveryCodesTable>;
export type ChallengeRow = Selectable<ChallengesTable>;
export type WebAuthnChallengeRow = Selectable<WebAuthnChallengesTable>;
export type PasskeyRow = Selectable<PasskeysTable>;
