import { createHash, randomBytes } from 'node:crypto';
import { AppError, newId } from '@gatehouse/kit';
import { type Kysely, sql } from 'kysely';
import { withDatabaseErrors } from '../db/errors.ts';
import type { Database, OneTimeTokenRow, TokenPurpose } from '../db/schema.ts';

export type { OneTimeTokenRow, TokenPurpose } from '../db/schema.ts';

/** The contract's lifetimes: verification 24 h, reset 1 h, magic link 15 min, invitation 7 days. */
export const TOKEN_TTL_SECONDS: Record<TokenPurpose, number> = {
  verify_email: 24 * 3600,
  reset_password: 3600,
  magic_link: 15 * 60,
  invitation: 7 * 24 * 3600,
};

/** One answer for every unusable token: unknown, used, expired, or for an address that changed since. */
export const invalidToken = () => new AppError('invalid_one_time_token', 'this link is invalid or has expired');

/**
 * A token's stored form. SHA-256 suffices (no salt, no stretching): the token
 * is 256 random bits, so there is no dictionary to try, and the lookup must
 * stay an index probe.
 */
const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * One-time tokens (email verification, password reset, magic link,
 * invitation): 256 random bits, handed out once, stored only as a hash,
 * single use. Issuing one retires the address's earlier open tokens of the
 * same purpose, so only the newest link works. Throws `service_unavailable`
 * when the database is down.
 */
export class OneTimeTokens {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * A new token; its clear text is returned here and nowhere stored. An
   * invitation's token also records the role it gives and who sent it.
   */
  async issue(input: {
    projectId: string;
    userId: string | null;
    email: string;
    purpose: TokenPurpose;
    invitation?: { role: 'admin' | 'user'; invitedBy: string };
  }): Promise<{ token: string; expiresAt: Date; row: OneTimeTokenRow }> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + TOKEN_TTL_SECONDS[input.purpose] * 1000);
    const email = input.email.toLowerCase();
    const row = await withDatabaseErrors(() =>
      this.#db.transaction().execute(async (trx) => {
        await trx
          .updateTable('one_time_tokens')
          .set({ used_at: sql`now()` })
          .where('project_id', '=', input.projectId)
          .where('email', '=', email)
          .where('purpose', '=', input.purpose)
          .where('used_at', 'is', null)
          .execute();
        return trx
          .insertInto('one_time_tokens')
          .values({
            id: newId(),
            project_id: input.projectId,
            user_id: input.userId,
            email,
            purpose: input.purpose,
            token_hash: hashOf(token),
            expires_at: expiresAt,
            ...(input.invitation ? { role: input.invitation.role, invited_by: input.invitation.invitedBy } : {}),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
      }),
    );
    return { token, expiresAt, row };
  }

  /** The project's tokens of `purpose` that could be used now (unused, unexpired), newest first. */
  async listOpen(projectId: string, purpose: TokenPurpose): Promise<OneTimeTokenRow[]> {
    return withDatabaseErrors(() =>
      this.#db
        .selectFrom('one_time_tokens')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', sql<Date>`now()`)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .execute(),
    );
  }

  /**
   * Retires the token with this id (marks it used) when it is of this
   * purpose and project, and could be used now: true when it did.
   */
  async retire(projectId: string, purpose: TokenPurpose, id: string): Promise<boolean> {
    const result = await withDatabaseErrors(() =>
      this.#db
        .updateTable('one_time_tokens')
        .set({ used_at: sql`now()` })
        .where('id', '=', id)
        .where('project_id', '=', projectId)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', sql<Date>`now()`)
        .executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  /**
   * The row the token names when it could be used now (of this purpose and
   * project, unused, unexpired), without using it: for flows that must do
   * something first and may fail (then the link still works). `consume`
   * remains the single-use gate.
   */
  async peek(projectId: string, purpose: TokenPurpose, token: string): Promise<OneTimeTokenRow | null> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .selectFrom('one_time_tokens')
        .selectAll()
        .where('token_hash', '=', hashOf(token))
        .where('project_id', '=', projectId)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', sql<Date>`now()`)
        .executeTakeFirst(),
    );
    return row ?? null;
  }

  /**
   * Uses the token: the row it names when it is of this purpose and project,
   * unused and unexpired; null otherwise. One statement marks it used, so of
   * two concurrent uses only one gets the row.
   */
  async consume(projectId: string, purpose: TokenPurpose, token: string): Promise<OneTimeTokenRow | null> {
    const row = await withDatabaseErrors(() =>
      this.#db
        .updateTable('one_time_tokens')
        .set({ used_at: sql`now()` })
        .where('token_hash', '=', hashOf(token))
        .where('project_id', '=', projectId)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', sql<Date>`now()`)
        .returningAll()
        .executeTakeFirst(),
    );
    return row ?? null;
  }
}
