import { withDatabaseErrors } from '@gatehouse/db';
import type { Kysely } from 'kysely';
import type { MfaDatabase, WebAuthnCeremony, WebAuthnChallengeRow } from '../db/schema.ts';

export interface NewWebAuthnChallenge {
  id: string;
  projectId: string;
  userId: string | null;
  mfaChallengeId: string | null;
  ceremony: WebAuthnCeremony;
  challenge: string;
  expiresAt: Date;
}

/** Which challenge a response may use up. */
export interface ChallengeLookup {
  projectId: string;
  ceremony: WebAuthnCeremony;
  /** By the id handed out with the options (passwordless sign-in)... */
  id?: string;
  /** ...or by the challenge value echoed in clientDataJSON (registration, MFA). */
  challenge?: string;
  /** Registration: only the user's own challenge. */
  userId?: string;
  /** Only a challenge bound to this MFA challenge; null: only one bound to none. */
  mfaChallengeId: string | null;
}

/**
 * Storage of WebAuthn challenges: single use and short-lived. `consume`
 * finds and uses up a challenge in one statement, whether or not the response
 * then verifies, so no challenge can be tried twice.
 */
export interface WebAuthnChallengesStore {
  create(row: NewWebAuthnChallenge): Promise<void>;
  /** Uses up the unused, unexpired challenge matching `lookup`; null when there is none. */
  consume(lookup: ChallengeLookup, now: Date): Promise<WebAuthnChallengeRow | null>;
}

export class PostgresWebAuthnChallengesStore implements WebAuthnChallengesStore {
  readonly #db: Kysely<MfaDatabase>;

  constructor(db: Kysely<MfaDatabase>) {
    this.#db = db;
  }

  async create(row: NewWebAuthnChallenge): Promise<void> {
    // Expired challenges are of no use: each new one clears those a day past their time (an index range scan).
    const sweepBefore = new Date(row.expiresAt.getTime() - 24 * 3600 * 1000);
    await withDatabaseErrors(() =>
      this.#db.deleteFrom('mfa_webauthn_challenges').where('expires_at', '<', sweepBefore).execute(),
    );
    await withDatabaseErrors(() =>
      this.#db
        .insertInto('mfa_webauthn_challenges')
        .values({
          id: row.id,
          project_id: row.projectId,
          user_id: row.userId,
          mfa_challenge_id: row.mfaChallengeId,
          ceremony: row.ceremony,
          challenge: row.challenge,
          expires_at: row.expiresAt,
          used_at: null,
        })
        .execute(),
    );
  }

  async consume(lookup: ChallengeLookup, now: Date): Promise<WebAuthnChallengeRow | null> {
    if (lookup.id === undefined && lookup.challenge === undefined) return null;
    const row = await withDatabaseErrors(() => {
      let query = this.#db
        .updateTable('mfa_webauthn_challenges')
        .set({ used_at: now })
        .where('project_id', '=', lookup.projectId)
        .where('ceremony', '=', lookup.ceremony)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .where('mfa_challenge_id', lookup.mfaChallengeId === null ? 'is' : '=', lookup.mfaChallengeId);
      if (lookup.id !== undefined) query = query.where('id', '=', lookup.id);
      if (lookup.challenge !== undefined) query = query.where('challenge', '=', lookup.challenge);
      if (lookup.userId !== undefined) query = query.where('user_id', '=', lookup.userId);
      return query.returningAll().executeTakeFirst();
    });
    return row ?? null;
  }
}
