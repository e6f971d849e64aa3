import type { AssignableRole, Invitation, UserRecord } from '@gatehouse/contracts';
import { AppError, requireEmail } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import type { AccountMail } from '../account-mail/account-mail.ts';
import { withDatabaseErrors } from '../db/errors.ts';
import type { Database, OneTimeTokenRow } from '../db/schema.ts';
import { invalidToken, OneTimeTokens } from '../one-time-tokens/one-time-tokens.ts';
import type { Passwords } from '../passwords/passwords.ts';
import type { UserEvents } from '../users/user-events.ts';
import { toUserRecord } from '../users/user-record.ts';
import { PostgresUsersStore, type UsersStore } from '../users/users.store.ts';

export interface InvitationsDeps {
  /** Accepting uses the token and creates the user in one transaction on this database. */
  db: Kysely<Database>;
  store: UsersStore;
  tokens: OneTimeTokens;
  passwords: Passwords;
  events: UserEvents;
  mail: AccountMail;
}

const emailTaken = () => new AppError('email_taken', 'this email is already registered');

/** The admin's view of an invitation's token row (never its hash). */
function toInvitation(row: OneTimeTokenRow): Invitation {
  return {
    id: row.id,
    email: row.email,
    // Never null for purpose `invitation` (a check constraint holds it).
    role: row.role ?? 'user',
    created_at: new Date(row.created_at).toISOString(),
    expires_at: new Date(row.expires_at).toISOString(),
  };
}

/**
 * Invitations: an admin has a link mailed to an address that has no account
 * yet; following it (7 days, single use) creates the account with the role
 * the admin chose and the password the invitee sets. An invitation is a
 * one-time token of purpose `invitation` (one-time-tokens.ts: stored as a
 * hash, single use; a new invitation to an address retires the open one).
 * The gateway checked that the caller administers the project. Every method
 * throws `service_unavailable` when the database is down.
 */
export class Invitations {
  readonly #deps: InvitationsDeps;

  constructor(deps: InvitationsDeps) {
    this.#deps = deps;
  }

  /**
   * Mails an invitation to `email` (its canonical form, kit `requireEmail`).
   * Throws `validation_failed` (field `email`), `email_taken` when the
   * project has a user with that address.
   */
  async create(input: {
    projectId: string;
    email: string;
    role: AssignableRole;
    invitedBy: string;
    redirectTo?: string | undefined;
    requestId?: string | undefined;
  }): Promise<Invitation> {
    const { store, mail } = this.#deps;
    const email = requireEmail(input.email, 'email');
    if (await store.findByEmail(input.projectId, email)) throw emailTaken();
    const row = await mail.sendInvitation(
      input.projectId,
      email,
      { role: input.role, invitedBy: input.invitedBy },
      input.redirectTo,
      input.requestId,
    );
    return toInvitation(row);
  }

  /** The open invitations (not accepted, revoked or expired), newest first. */
  async list(projectId: string): Promise<Invitation[]> {
    const rows = await this.#deps.tokens.listOpen(projectId, 'invitation');
    return rows.map(toInvitation);
  }

  /** Makes an open invitation's link unusable. Throws `not_found` (also one accepted, revoked or expired). */
  async revoke(projectId: string, invitationId: string): Promise<void> {
    if (!(await this.#deps.tokens.retire(projectId, 'invitation', invitationId))) {
      throw new AppError('not_found', 'no such open invitation');
    }
  }

  /**
   * Accepts an invitation: the user it names is created with the invited
   * role, this password and the address verified (the link proves it). The
   * token is used in the transaction that creates the user, so an accept that
   * fails (`email_taken`, the database) leaves the link as it was, and of two
   * concurrent accepts one creates the user, the other is
   * `invalid_one_time_token`. Throws `invalid_one_time_token`, `email_taken`
   * (the address got an account since the invitation). Publishes `events.user.created`.
   */
  async accept(input: { projectId: string; token: string; password: string; name?: string }): Promise<UserRecord> {
    const { db, store, tokens, passwords, events } = this.#deps;
    const peeked = await tokens.peek(input.projectId, 'invitation', input.token);
    if (!peeked || peeked.role === null) throw invalidToken();
    // Before the hashing: a refused accept costs no argon2 run (the per-IP limit bounds the rest).
    if (await store.findByEmail(input.projectId, peeked.email)) {
      // A concurrent accept of this link may have made the account meanwhile: then the link is
      // used, and that is the answer; otherwise the address signed up some other way.
      if (!(await tokens.peek(input.projectId, 'invitation', input.token))) throw invalidToken();
      throw emailTaken();
    }
    const passwordHash = await passwords.hash(input.password);
    const user = await withDatabaseErrors(() =>
      db.transaction().execute(async (trx) => {
        // `trx` only: PGlite's one connection is held by this transaction.
        const used = await new OneTimeTokens(trx).consume(input.projectId, 'invitation', input.token);
        if (!used || used.role === null) throw invalidToken();
        // Throws `email_taken` when the address signed up since the check: the transaction, and
        // with it the token's use, is rolled back.
        return new PostgresUsersStore(trx).create({
          projectId: used.project_id,
          email: used.email,
          passwordHash,
          role: used.role,
          name: input.name ?? null,
          emailVerified: true,
        });
      }),
    );
    await events.created(user);
    return toUserRecord(user);
  }
}
