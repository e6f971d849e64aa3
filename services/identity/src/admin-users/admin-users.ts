import type { AssignableRole, UserRecord } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import type { Metadata } from '../users/metadata.ts';
import { notFound } from '../users/user-errors.ts';
import type { UserEvents } from '../users/user-events.ts';
import { toUserRecord } from '../users/user-record.ts';
import type { UserChanges, UsersStore } from '../users/users.store.ts';

export interface AdminUsersDeps {
  store: UsersStore;
  events: UserEvents;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A page's position, opaque to clients: the last user id it showed. */
const cursorOf = (id: string): string => Buffer.from(id, 'utf8').toString('base64url');

function positionOf(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!UUID.test(id)) {
    throw new AppError('validation_failed', 'the request is invalid', {
      details: [{ field: '/cursor', message: 'not a cursor this list gave out' }],
    });
  }
  return id;
}

const invalid = (field: string, message: string) =>
  new AppError('validation_failed', 'the request is invalid', { details: [{ field, message }] });

/**
 * What an admin does to the users of a project they administer (the gateway
 * checked that). Ending the sessions a role change or a ban must end is the
 * caller's part: the session service owns them. Every method throws
 * `service_unavailable` when the database is down.
 */
export class AdminUsers {
  readonly #deps: AdminUsersDeps;

  constructor(deps: AdminUsersDeps) {
    this.#deps = deps;
  }

  /** Newest first. Throws `validation_failed` for a cursor this list did not give out. */
  async list(input: {
    projectId: string;
    search?: string;
    limit: number;
    cursor?: string;
  }): Promise<{ users: UserRecord[]; next_cursor: string | null }> {
    const before = input.cursor === undefined ? undefined : positionOf(input.cursor);
    // One more than asked tells whether there is a next page, without a count.
    const rows = await this.#deps.store.list(input.projectId, {
      ...(input.search !== undefined ? { search: input.search } : {}),
      limit: input.limit + 1,
      ...(before !== undefined ? { before } : {}),
    });
    const page = rows.slice(0, input.limit);
    const last = page.at(-1);
    return {
      users: page.map(toUserRecord),
      next_cursor: rows.length > input.limit && last ? cursorOf(last.id) : null,
    };
  }

  /**
   * Changes what an admin may change. Throws `not_found`; `validation_failed`
   * for a role given to a guest (it has no credentials to be an admin or a
   * user with: it becomes a user by signing up) or `email_verified` on a user
   * without an email; `last_admin`. Publishes `events.user.updated`.
   */
  async update(input: {
    projectId: string;
    userId: string;
    role?: AssignableRole;
    banned?: boolean;
    name?: string | null;
    emailVerified?: boolean;
    metadata?: Metadata;
  }): Promise<UserRecord> {
    const { store, events } = this.#deps;
    const user = await store.findById(input.projectId, input.userId);
    if (!user) throw notFound();
    if (input.role !== undefined && user.role === 'guest') {
      throw invalid(
        '/role',
        'a guest has no role to give: it becomes a user when it signs up (POST /auth/guest/convert)',
      );
    }
    if (input.emailVerified === true && user.email === null) {
      throw invalid('/email_verified', 'this user has no email address');
    }
    const changes: UserChanges = {
      ...(input.role !== undefined ? { role: input.role } : {}),
      ...(input.banned !== undefined ? { banned: input.banned } : {}),
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.emailVerified !== undefined ? { emailVerified: input.emailVerified } : {}),
      ...(input.metadata !== undefined ? { metadataPatch: input.metadata } : {}),
    };
    const row = await store.updateKeepingAnAdmin(input.projectId, input.userId, changes);
    if (!row) throw notFound();
    await events.changed('events.user.updated', row);
    return toUserRecord(row);
  }

  /** Deletes the user without its password. Throws `not_found`, `last_admin`. Publishes `events.user.deleted`. */
  async delete(projectId: string, userId: string): Promise<void> {
    const row = await this.#deps.store.deleteKeepingAnAdmin(projectId, userId);
    if (!row) throw notFound();
    await this.#deps.events.changed('events.user.deleted', row);
  }
}
