import { withDatabaseErrors } from '@gatehouse/db';
import { type Kysely, sql } from 'kysely';
import type { ChallengeRow, MfaDatabase } from '../db/schema.ts';

/** Tries one challenge allows, right or wrong (the HTTP contract: 5). */
export const MAX_ATTEMPTS = 5;

/**
 * Storage of MFA challenges. "Live" means unused, unexpired at `now` and with
 * tries left; each state change is one conditional statement, so concurrent
 * requests cannot exceed the tries or use a challenge twice.
 * Throws `service_unavailable` when the database is down.
 */
export interface ChallengesStore {
  create(row: {
    id: string;
    projectId: string;
    userId: string;
    tokenHash: string;
    amr: string[];
    expiresAt: Date;
  }): Promise<void>;
  /** The live challenge with this token hash, or null. */
  findLive(tokenHash: string, now: Date): Promise<ChallengeRow | null>;
  /** Counts one try against a live challenge; false when it is no longer live. */
  claimAttempt(id: string, now: Date): Promise<boolean>;
  /** Marks it used after a successful second factor; false when it was used or expired meanwhile. */
  consume(id: string, now: Date): Promise<boolean>;
}

/** Expired rows are kept a day (for a look when debugging), then swept. */
const sweepBefore = (expiresAt: Date) => new Date(expiresAt.getTime() - 24 * 3600 * 1000);

export class PostgresChallengesStore implements ChallengesStore {
  readonly #db: Kysely<MfaDatabase>;

  constructor(db: Kysely<MfaDatabase>) {
    this.#db = db;
  }

  async create(row: Parameters<ChallengesStore['create']>[0]): Promise<void> {
    // Challenges past their time are of no use: each new one clears them away (an index range scan).
    await withDatabaseErrors(() =>
      this.#db.deleteFrom('mfa_challenges').where('expires_at', '<', sweepBefore(row.expiresAt)).execute(),
    );
    await withDatabaseErrors(() =>
      this.#db
        .insertInto('mfa_challenges')
        .values({
          id: row.id,
          project_id: row.projectId,
          user_id: row.userId,
          token_hash: row.tokenHash,
          amr: JSON.stringify(row.amr),
          expires_at: row.expiresAt,
          used_at: null,
        })
        .execute(),
    );
  }

  async findLive(tokenHash: string, now: Date): Promise<ChallengeRow | null> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .selectFrom('mfa_challenges')
        .selectAll()
        .where('token_hash', '=', tokenHash)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .where('attempts', '<', MAX_ATTEMPTS)
        .executeTakeFirst(),
    );
    return row ?? null;
  }

  async claimAttempt(id: string, now: Date): Promise<boolean> {
    const updated = await withDatabaseErrors(() =>
      this.#db
        .updateTable('mfa_challenges')
        .set({ attempts: sql`attempts + 1` })
        .where('id', '=', id)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .where('attempts', '<', MAX_ATTEMPTS)
        .executeTakeFirst(),
    );
    return updated.numUpdatedRows > 0n;
  }

  async consume(id: string, now: Date): Promise<boolean> {
    const updated = await withDatabaseErrors(() =>
      this.#db
        .updateTable('mfa_challenges')
        .set({ used_at: now })
        .where('id', '=', id)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst(),
    );
    return updated.numUpdatedRows > 0n;
  }
}
