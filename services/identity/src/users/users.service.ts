import type { UserRecord } from '@gatehouse/contracts';
import { AppError, type Logger, normalizeEmail, requireEmail } from '@gatehouse/kit';
import type { Passwords } from '../passwords/passwords.ts';
import type { Metadata } from './metadata.ts';
import { invalidCredentials, notFound } from './user-errors.ts';
import type { UserEvents } from './user-events.ts';
import { toUserRecord } from './user-record.ts';
import type { UserRow, UsersStore } from './users.store.ts';

export interface UsersServiceDeps {
  store: UsersStore;
  passwords: Passwords;
  events: UserEvents;
  /** Whether the project's users must verify their address before a password sign-in: its setting, else the instance's. */
  requireEmailVerification(projectId: string): Promise<boolean>;
  log: Logger;
}

/**
 * The canonical form of an address to store (kit `requireEmail`): one
 * mailbox, one form. The gateway checks it too; this keeps the bus safe on
 * its own. Throws `validation_failed` naming the field `email`.
 */
const checkedEmail = (email: string): string => requireEmail(email, 'email');

/**
 * The rules about users, their passwords and guests (changing and resetting a
 * password are in passwords/). Every method throws an
 * AppError with a catalog code for an expected failure (listed on each), and
 * `service_unavailable` when the database is down.
 */
export class UsersService {
  readonly #deps: UsersServiceDeps;

  constructor(deps: UsersServiceDeps) {
    this.#deps = deps;
  }

  /** A new user with role `user`. Throws `email_taken`. Publishes `events.user.created`. */
  async register(input: {
    projectId: string;
    email: string;
    password: string;
    name?: string;
    metadata?: Metadata;
  }): Promise<UserRecord> {
    const email = checkedEmail(input.email);
    const passwordHash = await this.#deps.passwords.hash(input.password);
    const row = await this.#deps.store.create({
      projectId: input.projectId,
      email,
      passwordHash,
      role: 'user',
      name: input.name ?? null,
      ...(input.metadata ? { metadata: input.metadata } : {}),
    });
    await this.#deps.events.created(row);
    return toUserRecord(row);
  }

  /**
   * The user whose email and password these are. Throws `invalid_credentials`
   * (unknown email, an address that no account can have, no password, wrong
   * password: same message, similar time), then, only once the password is
   * right, `user_banned` or `email_not_verified`.
   */
  async authenticate(input: { projectId: string; email: string; password: string }): Promise<UserRecord> {
    const { store, passwords } = this.#deps;
    const address = normalizeEmail(input.email);
    const user = address === null ? null : await store.findByEmail(input.projectId, address);
    if (!user?.password_hash) {
      // Security: an unknown email (or a passwordless guest) still costs one
      // argon2 verification, so response time does not tell whether the account exists.
      await passwords.verifyDummy(input.password);
      throw invalidCredentials();
    }
    if (!(await passwords.verify(user.password_hash, input.password))) throw invalidCredentials();
    // Checked only after the password: a stranger must not learn that an account is banned.
    if (user.banned) throw new AppError('user_banned', 'this account is banned');
    if (!user.email_verified && (await this.#deps.requireEmailVerification(user.project_id))) {
      throw new AppError('email_not_verified', 'verify your email address before signing in');
    }
    if (passwords.needsRehash(user.password_hash)) await this.#rehash(user, user.password_hash, input.password);
    return toUserRecord(user);
  }

  /**
   * A signed-in user proves it is still them (before adding or removing a
   * sign-in method). Throws `invalid_credentials` for a wrong password, no
   * password, or no such user, in similar time.
   */
  async verifyPassword(projectId: string, userId: string, password: string): Promise<void> {
    const { store, passwords } = this.#deps;
    const user = await store.findById(projectId, userId);
    if (!user?.password_hash) {
      await passwords.verifyDummy(password);
      throw invalidCredentials();
    }
    if (!(await passwords.verify(user.password_hash, password))) throw invalidCredentials();
  }

  /** Throws `not_found`. */
  async get(projectId: string, userId: string): Promise<UserRecord> {
    const user = await this.#deps.store.findById(projectId, userId);
    if (!user) throw notFound();
    return toUserRecord(user);
  }

  /**
   * Changes the profile: `name` and `avatar_url` (null clears), `metadata`
   * shallow-merged (a null value removes the key). Throws `not_found`, or
   * `validation_failed` when metadata would exceed 16 KiB. Publishes `events.user.updated`.
   */
  async update(input: {
    projectId: string;
    userId: string;
    name?: string | null;
    avatarUrl?: string | null;
    metadata?: Metadata;
  }): Promise<UserRecord> {
    const row = await this.#deps.store.update(input.projectId, input.userId, {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.avatarUrl !== undefined ? { avatarUrl: input.avatarUrl } : {}),
      ...(input.metadata !== undefined ? { metadataPatch: input.metadata } : {}),
    });
    if (!row) throw notFound();
    await this.#deps.events.changed('events.user.updated', row);
    return toUserRecord(row);
  }

  /**
   * Deletes the account for good. A user with a password must give it; one
   * without (a guest) must have signed in within the last minutes
   * (`freshSignIn`). Throws `not_found`, `invalid_credentials`. Publishes `events.user.deleted`.
   */
  async delete(input: { projectId: string; userId: string; password?: string; freshSignIn: boolean }): Promise<void> {
    const { store, passwords } = this.#deps;
    const user = await store.findById(input.projectId, input.userId);
    if (!user) throw notFound();
    // Security: a stolen access token alone must not be enough to destroy an account.
    if (user.password_hash !== null) {
      const ok = input.password !== undefined && (await passwords.verify(user.password_hash, input.password));
      if (!ok) throw invalidCredentials();
    } else if (!input.freshSignIn) {
      throw invalidCredentials();
    }
    if (!(await store.delete(user.project_id, user.id))) throw notFound();
    await this.#deps.events.changed('events.user.deleted', user);
  }

  /** The user with this email, or null, also for an address no account can have (the gateway's passkey sign-in by email). */
  async findByEmail(projectId: string, email: string): Promise<UserRecord | null> {
    const address = normalizeEmail(email);
    if (address === null) return null;
    const user = await this.#deps.store.findByEmail(projectId, address);
    return user ? toUserRecord(user) : null;
  }

  /** Records whether TOTP is on (the mfa service's call). Throws `not_found`. Publishes `events.user.updated`. */
  async setMfa(projectId: string, userId: string, enabled: boolean): Promise<UserRecord> {
    const row = await this.#deps.store.update(projectId, userId, { mfaEnabled: enabled });
    if (!row) throw notFound();
    await this.#deps.events.changed('events.user.updated', row);
    return toUserRecord(row);
  }

  /** A guest: role `guest`, no email, no password. Publishes `events.user.created`. */
  async createGuest(input: { projectId: string; name?: string }): Promise<UserRecord> {
    const row = await this.#deps.store.create({
      projectId: input.projectId,
      email: null,
      passwordHash: null,
      role: 'guest',
      name: input.name ?? null,
    });
    await this.#deps.events.created(row);
    return toUserRecord(row);
  }

  /**
   * Turns a guest into a user with an email and password, keeping its id (and
   * so everything it owns). Throws `not_found`, `forbidden` (not a guest),
   * `email_taken`. Publishes `events.user.updated`.
   */
  async convertGuest(input: {
    projectId: string;
    userId: string;
    email: string;
    password: string;
    name?: string;
  }): Promise<UserRecord> {
    const { store, passwords } = this.#deps;
    const email = checkedEmail(input.email);
    const guest = await store.findById(input.projectId, input.userId);
    if (!guest) throw notFound();
    if (guest.role !== 'guest') throw new AppError('forbidden', 'only a guest account can be converted');
    const passwordHash = await passwords.hash(input.password);
    const changes = {
      email,
      passwordHash,
      role: 'user' as const,
      ...(input.name !== undefined ? { name: input.name } : {}),
    };
    // Guarded on the role: of two conversions racing, only the first applies.
    const row = await store.update(guest.project_id, guest.id, changes, { role: 'guest' });
    if (!row) throw new AppError('forbidden', 'only a guest account can be converted');
    await this.#deps.events.changed('events.user.updated', row);
    return toUserRecord(row);
  }

  /** Upgrades a hash made with older parameters; the sign-in succeeds even if this fails. */
  async #rehash(user: UserRow, verifiedHash: string, password: string): Promise<void> {
    try {
      const passwordHash = await this.#deps.passwords.hash(password);
      // Guarded on the hash just verified: a password changed meanwhile must not be overwritten.
      const row = await this.#deps.store.update(
        user.project_id,
        user.id,
        { passwordHash },
        { passwordHash: verifiedHash },
      );
      // Its updated_at moved: the gateways' cached profiles are read again.
      if (row) await this.#deps.events.changed('events.user.updated', row);
    } catch (err) {
      this.#deps.log.warn({ err, userId: user.id }, 'could not rehash a password');
    }
  }
}
