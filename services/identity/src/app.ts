import type { Bus, Config, Logger, MailQueue } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import { pingDatabase } from './db/database.ts';
import type { Database } from './db/schema.ts';
import { AccountEmails, type AccountPeers } from './emails/account-emails.ts';
import { registerEmailHandlers } from './emails/emails.handlers.ts';
import { OneTimeTokens } from './emails/one-time-tokens.ts';
import { createPasswords } from './passwords/passwords.ts';
import { bootstrapAdmin } from './users/admin-bootstrap.ts';
import { UserEvents } from './users/user-events.ts';
import { registerUserHandlers } from './users/users.handlers.ts';
import { UsersService } from './users/users.service.ts';
import { PostgresUsersStore } from './users/users.store.ts';

export { type OpenDatabaseOptions, openDatabase } from './db/database.ts';
export { migrate } from './db/migrations.ts';
export type { Database } from './db/schema.ts';

export interface IdentityDeps {
  bus: Bus;
  /** Opened with `openDatabase` and migrated with `migrate`; the caller owns it and destroys it. */
  db: Kysely<Database>;
  config: Config;
  /** Where identity puts the mails it sends (verification, reset, magic link, notices). */
  mail: Pick<MailQueue, 'enqueue'>;
  log: Logger;
}

/** The session and mfa services, over the bus (see AccountPeers). */
function busPeers(bus: Bus): AccountPeers {
  return {
    async revokeSessions(userId, reason, requestId) {
      const { session_ids } = await bus.request(
        'session.user.revoke',
        { user_id: userId, reason },
        requestId ? { requestId } : {},
      );
      return session_ids;
    },
    async forgetFactors(projectId, userId, addedSince, requestId) {
      await bus.request(
        'mfa.factors.forget',
        { project_id: projectId, user_id: userId, ...(addedSince ? { added_since: addedSince.toISOString() } : {}) },
        requestId ? { requestId } : {},
      );
    },
  };
}

/**
 * The identity service: serves every `identity.*` subject on `bus` over the
 * given database, and creates the configured admin if none exists. Never
 * connects by itself; `close` stops nothing the caller owns (bus, database).
 */
export async function startIdentity(deps: IdentityDeps): Promise<{ close(): Promise<void> }> {
  const { bus, db, config, mail, log } = deps;
  const store = new PostgresUsersStore(db);
  // Makes the dummy hash for unknown users now, with the configured cost.
  const passwords = await createPasswords(config.passwordHash);
  const events = new UserEvents(bus, log);
  const users = new UsersService({
    store,
    passwords,
    events,
    requireEmailVerification: config.requireEmailVerification,
    log,
  });

  const emails = new AccountEmails({
    store,
    peers: busPeers(bus),
    resetRemovesFactorsDays: config.resetRemovesFactorsDays,
    tokens: new OneTimeTokens(db),
    passwords,
    events,
    mail,
    publicUrl: config.publicUrl,
    log,
  });
  registerUserHandlers(bus, users, emails);
  registerEmailHandlers(bus, emails);
  bus.serve('identity.health.check', async () => {
    await pingDatabase(db);
    return { ok: true };
  });

  await bootstrapAdmin({
    store,
    passwords,
    events,
    adminEmail: config.adminEmail,
    adminPassword: config.adminPassword,
    log,
  });
  return { close: async () => {} };
}
