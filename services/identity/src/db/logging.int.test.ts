import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P } from '@gatehouse/contracts';
import { Bus, createLogger, InProcessTransport, isAppError, loadConfig } from '@gatehouse/kit';
import { sql } from 'kysely';
import { CHEAP_HASH } from '../app.test-support.ts';
import { MemoryFlowStore, startIdentity } from '../app.ts';
import {
  noAuditEvents,
  openPgliteTestDatabase,
  openPostgresTestDatabase,
  type TestDatabase,
} from './test-databases.ts';

/**
 * Identity with its database failing in the ways that get logged: an error of
 * the driver reaches the bus as `internal` (logged with the error), or a
 * handler logs it and carries on. The statements that fail carry a password
 * hash or a token hash; the rows Postgres quotes in `detail` carry them too.
 * No log line of the whole run may hold either, a password, or a token.
 */
async function provokeAndCapture(database: TestDatabase): Promise<{ lines: string[]; secrets: string[] }> {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const log = createLogger({ level: 'trace', service: 'identity', destination });
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 15_000 });
  const mails: unknown[] = [];
  const identity = await startIdentity({
    bus,
    db: database.db,
    config: loadConfig({ PASSWORD_HASH: CHEAP_HASH }),
    mail: { enqueue: async (job) => void mails.push(job) },
    audit: noAuditEvents,
    flows: new MemoryFlowStore(),
    log,
  });
  const db = database.db;
  const passwords = ['first passphrase 1', 'second passphrase 2', 'third passphrase 3', 'fourth passphrase 4'];
  const [pw1, pw2, pw3, pw4] = passwords as [string, string, string, string];
  const internal = (err: unknown) => isAppError(err, 'internal');
  let token: string | undefined;
  try {
    // A sign-up that works: its link's token is a secret the log must not hold either.
    const { user: ada } = await bus.request('identity.user.register', {
      project_id: P,
      email: 'ada@example.test',
      password: pw1,
      name: 'Ada',
    });
    token = /token=([A-Za-z0-9_-]+)/.exec(JSON.stringify(mails))?.[1];
    assert.ok(token, 'the verification mail has a token');

    // 1. The verification token cannot be stored: the handler logs the error and the sign-up stands.
    //    The failed insert ran with the token's hash.
    await sql`alter table one_time_tokens add constraint test_no_tokens check (false) not valid`.execute(db);
    await bus.request('identity.user.register', { project_id: P, email: 'bob@example.test', password: pw2 });

    // 2. The user insert breaks a rule the store does not expect: `internal`, logged by the bus.
    //    The failing row (Postgres' detail) and PGlite's params hold the new password hash.
    await sql`alter table users add constraint test_no_carol check (name is distinct from 'Carol')`.execute(db);
    await assert.rejects(
      bus.request('identity.user.register', {
        project_id: P,
        email: 'carol@example.test',
        password: pw3,
        name: 'Carol',
      }),
      internal,
    );

    // 3. A password change fails at the write, after both hashes were in hand (the new one, the guard's old one).
    await sql`alter table users add constraint test_frozen check (name is distinct from 'Ada') not valid`.execute(db);
    await assert.rejects(
      bus.request('identity.password.change', {
        project_id: P,
        user_id: ada.id,
        current_password: pw1,
        new_password: pw4,
      }),
      internal,
    );

    // 4. A broken query: the table is gone when a user signs in.
    await sql`alter table users rename to users_gone`.execute(db);
    await assert.rejects(
      bus.request('identity.user.authenticate', { project_id: P, email: 'ada@example.test', password: pw1 }),
      internal,
    );
    await sql`alter table users_gone rename to users`.execute(db);
  } finally {
    await identity.close();
    await bus.transport.close();
  }
  return { lines, secrets: [...passwords, token ?? 'no token'] };
}

function assertClean(lines: string[], secrets: string[]): void {
  // The run did log the failures, with what helps: the SQLSTATE and the constraint.
  const all = lines.join('\n');
  assert.equal(lines.filter((l) => l.includes('could not queue the verification email')).length, 1, all);
  assert.ok(lines.filter((l) => l.includes('unexpected error')).length >= 3, all);
  assert.match(all, /test_no_tokens/);
  assert.match(all, /test_no_carol/);
  assert.match(all, /23514/);
  assert.match(all, /42P01/);
  for (const line of lines) {
    assert.ok(!line.includes('$argon2id$'), `a password hash reached the log: ${line}`);
    // A token hash (sha256, hex): only ever in the statements' parameters or quoted rows.
    assert.doesNotMatch(line, /\b[0-9a-f]{64}\b/, `a token hash reached the log: ${line}`);
    for (const secret of secrets) assert.ok(!line.includes(secret), `${secret} reached the log: ${line}`);
  }
}

describe('no log line of identity holds a hash, a password or a token when its database fails', () => {
  for (const [engine, open] of [
    ['PGlite', openPgliteTestDatabase],
    ['Postgres', openPostgresTestDatabase],
  ] as const) {
    test(`on ${engine}`, async () => {
      const database = await open();
      try {
        const { lines, secrets } = await provokeAndCapture(database);
        assertClean(lines, secrets);
      } finally {
        await database.drop();
      }
    });
  }
});
