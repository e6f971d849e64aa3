// Test support: a running mfa service over the in-process bus and a migrated
// database, with a stand-in identity that answers `identity.user.set_mfa`.
import { randomBytes, randomUUID } from 'node:crypto';
import { DEFAULT_PROJECT_ID, type EventOf, type UserRecord } from '@gatehouse/contracts';
import { openPgliteTestDatabase, silentLog, type TestDatabase } from '@gatehouse/db/testing';
import { AppError, Bus, InProcessTransport, loadConfig } from '@gatehouse/kit';
import { type MfaDatabase, migrate, startMfa } from '../src/app.ts';

/** A clock the test moves by hand. */
export class TestClock {
  #ms: number;
  constructor(start = Date.now()) {
    this.#ms = start;
  }
  now = (): Date => new Date(this.#ms);
  advance(seconds: number): void {
    this.#ms += seconds * 1000;
  }
}

export interface TestMfa {
  bus: Bus;
  database: TestDatabase<MfaDatabase>;
  clock: TestClock;
  /** The origin passkey ceremonies run on (PUBLIC_URL). */
  origin: string;
  /** Every `identity.user.set_mfa` request, in order. */
  setMfa: { user_id: string; mfa_enabled: boolean }[];
  /** Every `events.mfa.changed`, in order. */
  changes: EventOf<'events.mfa.changed'>[];
  /** Makes the stand-in identity fail `set_mfa` while true. */
  identityDown: boolean;
  /** A fresh user id in the default project: `{project_id, user_id}`. */
  newUser(): { project_id: string; user_id: string };
  close(): Promise<void>;
}

const PUBLIC_URL = 'https://auth.example.test';

function userRecord(projectId: string, userId: string, mfaEnabled: boolean): UserRecord {
  const at = new Date().toISOString();
  return {
    id: userId,
    project_id: projectId,
    email: `${userId}@example.test`,
    email_verified: true,
    name: null,
    avatar_url: null,
    role: 'user',
    metadata: {},
    mfa_enabled: mfaEnabled,
    created_at: at,
    updated_at: at,
    banned: false,
    has_password: true,
  };
}

/**
 * Starts mfa on a fresh in-process bus. `database` shares one (left for its
 * owner to drop); by default a fresh PGlite database is made and dropped.
 */
export async function startTestMfa(
  options: {
    database?: TestDatabase<MfaDatabase>;
    corsOrigins?: string;
    /** SECRET_KEY and SECRET_KEY_PREVIOUS; a random SECRET_KEY by default. */
    secretKey?: Buffer;
    previousSecretKeys?: Buffer[];
  } = {},
): Promise<TestMfa> {
  const database = options.database ?? (await openPgliteTestDatabase<MfaDatabase>(migrate));
  const bus = new Bus(new InProcessTransport(), silentLog, { timeoutMs: 15_000 });
  const clock = new TestClock();
  const harness: TestMfa = {
    bus,
    database,
    clock,
    origin: PUBLIC_URL,
    setMfa: [],
    changes: [],
    identityDown: false,
    newUser: () => ({ project_id: DEFAULT_PROJECT_ID, user_id: randomUUID() }),
    close: async () => {
      await mfa.close();
      await bus.transport.close();
      if (!options.database) await database.drop();
    },
  };
  bus.serve('identity.user.set_mfa', async (m) => {
    if (harness.identityDown) throw new AppError('service_unavailable', 'identity is unavailable');
    harness.setMfa.push({ user_id: m.user_id, mfa_enabled: m.mfa_enabled });
    return { user: userRecord(m.project_id, m.user_id, m.mfa_enabled) };
  });
  bus.subscribe('events.mfa.changed', (event) => {
    harness.changes.push(event);
  });
  const config = loadConfig({ PUBLIC_URL, CORS_ORIGINS: options.corsOrigins ?? 'https://app.example.test' });
  const mfa = await startMfa({
    bus,
    db: database.db,
    config,
    secretKey: options.secretKey ?? randomBytes(32),
    previousSecretKeys: options.previousSecretKeys ?? [],
    log: silentLog,
    clock: clock.now,
  });
  return harness;
}
