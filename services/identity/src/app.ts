import type { AuditQueue, Bus, Config, Logger, MailQueue } from '@gatehouse/kit';
import type { Kysely } from 'kysely';
import { registerAccountMailHandlers } from './account-mail/account-mail.handlers.ts';
import { AccountMail } from './account-mail/account-mail.ts';
import { busPeers } from './account-peers.ts';
import { registerAdminUserHandlers } from './admin-users/admin-users.handlers.ts';
import { AdminUsers } from './admin-users/admin-users.ts';
import { registerApiKeyHandlers } from './api-keys/api-keys.handlers.ts';
import { ApiKeys } from './api-keys/api-keys.ts';
import { registerAuditHandlers } from './audit/audit.handlers.ts';
import { PostgresAuditStore } from './audit/audit.store.ts';
import { AuditLog } from './audit/audit-log.ts';
import { pingDatabase } from './db/database.ts';
import type { Database } from './db/schema.ts';
import { registerEmailVerificationHandlers } from './email-verification/email-verification.handlers.ts';
import { EmailVerification } from './email-verification/email-verification.ts';
import { registerIdentitiesHandlers } from './identities/identities.handlers.ts';
import { IdentitiesStore } from './identities/identities.store.ts';
import { registerInvitationHandlers } from './invitations/invitations.handlers.ts';
import { Invitations } from './invitations/invitations.ts';
import { registerMagicLinkHandlers } from './magic-link/magic-link.handlers.ts';
import { MagicLink } from './magic-link/magic-link.ts';
import { OneTimeTokens } from './one-time-tokens/one-time-tokens.ts';
import { PasswordChange } from './passwords/password-change.ts';
import { PasswordReset } from './passwords/password-reset.ts';
import { registerPasswordHandlers } from './passwords/passwords.handlers.ts';
import { createPasswords } from './passwords/passwords.ts';
import { serveProjects } from './projects/projects.handlers.ts';
import type { FlowStore } from './social-sign-in/flow-store.ts';
import { ProviderClient } from './social-sign-in/provider-client.ts';
import { registerSocialSignInHandlers } from './social-sign-in/social-sign-in.handlers.ts';
import { SocialSignIn } from './social-sign-in/social-sign-in.ts';
import { bootstrapAdmin } from './users/admin-bootstrap.ts';
import { UserEvents } from './users/user-events.ts';
import { registerUserHandlers } from './users/users.handlers.ts';
import { UsersService } from './users/users.service.ts';
import { PostgresUsersStore } from './users/users.store.ts';

export { type OpenDatabaseOptions, openDatabase } from './db/database.ts';
export { migrate } from './db/migrations.ts';
export type { Database } from './db/schema.ts';
export { type FlowStore, MemoryFlowStore, RedisFlowStore } from './social-sign-in/flow-store.ts';

export interface IdentityDeps {
  bus: Bus;
  /** Opened with `openDatabase` and migrated with `migrate`; the caller owns it and destroys it. */
  db: Kysely<Database>;
  config: Config;
  /** Where identity puts the mails it sends (verification, reset, magic link, notices). */
  mail: Pick<MailQueue, 'enqueue'>;
  /** The audit events the other services record: identity writes them to the database, in batches. */
  audit: Pick<AuditQueue, 'consume'>;
  /** Where social sign-in flows wait between their steps: Redis in the stack, memory embedded. */
  flows: FlowStore;
  log: Logger;
}

/**
 * The identity service: serves every `identity.*` subject on `bus` over the
 * given database, creates the configured admin if none exists, and writes
 * the audit queue's events. Never connects by itself; `close` stops the
 * audit writer (the batch in hand finishes) and nothing the caller owns.
 */
export async function startIdentity(deps: IdentityDeps): Promise<{ close(): Promise<void> }> {
  const { bus, db, config, mail, flows, log } = deps;
  const store = new PostgresUsersStore(db);
  // Makes the dummy hash for unknown users now, with the configured cost.
  const passwords = await createPasswords(config.passwordHash);
  const events = new UserEvents(bus, log);
  const projects = serveProjects({ bus, db, config, log });
  const users = new UsersService({
    store,
    passwords,
    events,
    requireEmailVerification: async (projectId) =>
      (await projects.settings.get(projectId)).require_email_verification ?? config.requireEmailVerification,
    log,
  });

  const tokens = new OneTimeTokens(db);
  const peers = busPeers(bus);
  const accountMail = new AccountMail({
    store,
    tokens,
    mail,
    publicUrl: config.publicUrl,
    publishableKeyOf: async (projectId) =>
      (await db.selectFrom('projects').select('publishable_key').where('id', '=', projectId).executeTakeFirst())
        ?.publishable_key,
    log,
  });
  const verification = new EmailVerification({ store, tokens, events, mail: accountMail });
  const identities = new IdentitiesStore(db);
  const apiKeys = new ApiKeys({ db, store, bus, log });
  const reset = new PasswordReset({
    store,
    tokens,
    passwords,
    peers,
    identities,
    apiKeys,
    events,
    mail: accountMail,
    resetRemovesFactorsDays: config.resetRemovesFactorsDays,
    log,
  });
  const change = new PasswordChange({ store, passwords, events, mail: accountMail });
  const magicLink = new MagicLink({ store, tokens, peers, identities, apiKeys, events, mail: accountMail, log });
  registerUserHandlers(bus, users, verification);
  registerEmailVerificationHandlers(bus, verification);
  registerPasswordHandlers(bus, reset, change);
  registerMagicLinkHandlers(bus, magicLink);
  registerAccountMailHandlers(bus, accountMail);
  const providers = config.oauthProviders.map(
    (settings) =>
      new ProviderClient(settings, {
        redirectUri: `${config.publicUrl}/auth/oauth/${settings.id}/callback`,
        timeoutMs: config.oauthTimeoutMs,
      }),
  );
  const social = new SocialSignIn({
    providers,
    flows,
    identities,
    store,
    events,
    peers,
    apiKeys,
    mail: accountMail,
    log,
  });
  registerSocialSignInHandlers(bus, social);
  registerIdentitiesHandlers(bus, identities);
  registerAdminUserHandlers(bus, new AdminUsers({ store, events }));
  registerApiKeyHandlers(bus, apiKeys);
  const invitations = new Invitations({ db, store, tokens, passwords, events, mail: accountMail });
  registerInvitationHandlers(bus, invitations);
  const auditLog = new AuditLog({ store: new PostgresAuditStore(db), log });
  registerAuditHandlers(bus, auditLog);
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
  // Acked only once written: while the database is down the queue keeps the batch and retries it.
  const auditWriter = await deps.audit.consume((events, batch) => auditLog.write(events, batch.log));
  return { close: () => auditWriter.stop() };
}
