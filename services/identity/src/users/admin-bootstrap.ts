import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { isAppError, type Logger, parseEmailAddress } from '@gatehouse/kit';
import type { Passwords } from '../passwords/passwords.ts';
import type { UserEvents } from './user-events.ts';
import type { UsersStore } from './users.store.ts';

/**
 * Creates the first admin of the default project from ADMIN_EMAIL and
 * ADMIN_PASSWORD, when both are set and the project has no admin yet. There
 * is no built-in default password: without these, no admin exists until an
 * operator makes one. Returns true when it created the admin.
 */
export async function bootstrapAdmin(deps: {
  store: UsersStore;
  passwords: Passwords;
  events: UserEvents;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  log: Logger;
}): Promise<boolean> {
  const { store, adminEmail, adminPassword, log } = deps;
  if (!adminEmail || !adminPassword) return false;
  if (await store.hasAdmin(DEFAULT_PROJECT_ID)) return false;
  const parsed = parseEmailAddress(adminEmail);
  if (!parsed.ok) {
    // Not fatal: identity serves everything else, and the log says what to fix.
    log.error({ reason: parsed.reason }, 'ADMIN_EMAIL is not an acceptable email address; no admin was created');
    return false;
  }
  try {
    const row = await store.create({
      projectId: DEFAULT_PROJECT_ID,
      email: parsed.address,
      passwordHash: await deps.passwords.hash(adminPassword),
      role: 'admin',
      // The operator chose this address in the configuration: nothing to verify.
      emailVerified: true,
    });
    await deps.events.created(row);
    log.info({ userId: row.id }, 'created the admin from ADMIN_EMAIL');
    return true;
  } catch (err) {
    // Another replica starting at the same moment won the race, or a plain
    // user already holds this email: either way, leave the data alone.
    if (!isAppError(err, 'email_taken')) throw err;
    if (!(await store.hasAdmin(DEFAULT_PROJECT_ID))) {
      log.warn('ADMIN_EMAIL belongs to an existing non-admin user; no admin was created');
    }
    return false;
  }
}
