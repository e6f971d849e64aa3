// Test support only: a running identity service over the in-process bus, for the service tests.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { events as eventSubjects, type MailJob } from '@gatehouse/contracts';
import {
  AppError,
  Bus,
  type Config,
  InProcessAuditQueue,
  InProcessTransport,
  isAppError,
  loadConfig,
} from '@gatehouse/kit';
import { sql } from 'kysely';
import { MemoryFlowStore, startIdentity } from './app.ts';
import { openPgliteTestDatabase, silentLog, type TestDatabase } from './db/test-databases.ts';

/** Cheap argon2id parameters (the floor the config accepts), so tests hash in milliseconds. */
export const CHEAP_HASH = 'argon2id:m=8192,t=1,p=1';

/** Asserts that `promise` rejects with the AppError of `code`. */
export const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (err) => isAppError(err, code as never));

export interface TestIdentity {
  bus: Bus;
  database: TestDatabase;
  config: Config;
  /** Every mail job identity queued, in order. */
  mails: MailJob[];
  /** The mails queued to `address` (stored, so sent, in lower case), in order. */
  mailsTo(address: string): MailJob[];
  /** The token of the last link mailed to `address` with `template` (also its `type`); fails the test when there is none. */
  tokenFrom(address: string, template: string): string;
  /** Makes `token` expire now, as time would. */
  expireToken(token: string): Promise<void>;
  /**
   * The audit queue identity's writer consumes (in process, batches due after 10 ms): record
   * events into it as the gateway would, and read them back through identity.audit.list.
   */
  audit: InProcessAuditQueue;
  /** Every user event published, in order. */
  published: { subject: string; data: Record<string, unknown> }[];
  /**
   * What identity asked of its peers (session.user.revoke, mfa.factors.forget),
   * answered by stand-ins here; set `peersDown` to make them fail as an
   * unreachable service does.
   */
  peerCalls: { subject: string; data: Record<string, unknown> }[];
  peersDown: boolean;
  /** Stops the service and the bus; drops the database when this harness created it. */
  close(): Promise<void>;
}

/**
 * Starts identity on a fresh in-process bus. `env` is read by loadConfig on
 * top of cheap hashing; pass `database` to share one between two instances
 * (it is then left for its owner to drop).
 */
export async function startTestIdentity(
  env: Record<string, string> = {},
  shared?: TestDatabase,
): Promise<TestIdentity> {
  const config = loadConfig({ PASSWORD_HASH: CHEAP_HASH, ...env });
  const database = shared ?? (await openPgliteTestDatabase());
  const bus = new Bus(new InProcessTransport(), silentLog, { timeoutMs: 15_000 });
  const published: TestIdentity['published'] = [];
  for (const subject of [
    eventSubjects.userCreated,
    eventSubjects.userUpdated,
    eventSubjects.userDeleted,
    eventSubjects.userPasswordChanged,
  ]) {
    bus.subscribe(subject, (data) => {
      published.push({ subject, data });
    });
  }
  const peerCalls: TestIdentity['peerCalls'] = [];
  const harness = { peersDown: false };
  const peer = (subject: string) => async (data: Record<string, unknown>) => {
    if (harness.peersDown) throw new AppError('service_unavailable', `${subject} did not answer`);
    peerCalls.push({ subject, data });
  };
  bus.serve('session.user.revoke', async (m) => {
    await peer('session.user.revoke')(m);
    return { session_ids: [] };
  });
  bus.serve('mfa.factors.forget', async (m) => {
    await peer('mfa.factors.forget')(m);
    return { totp: false, passkeys: 0 };
  });
  const mails: MailJob[] = [];
  const mail = { enqueue: async (job: MailJob) => void mails.push(job) };
  const audit = new InProcessAuditQueue({ log: silentLog, batchWaitMs: 10, retryDelaysMs: [50] });
  const identity = await startIdentity({
    bus,
    db: database.db,
    config,
    mail,
    audit,
    flows: new MemoryFlowStore(),
    log: silentLog,
  });
  const mailsTo = (address: string) => mails.filter((m) => m.to === address.toLowerCase());
  return {
    bus,
    database,
    config,
    audit,
    published,
    peerCalls,
    get peersDown() {
      return harness.peersDown;
    },
    set peersDown(down: boolean) {
      harness.peersDown = down;
    },
    mails,
    mailsTo,
    tokenFrom(address, template) {
      const mail = mailsTo(address)
        .filter((m) => m.template === template)
        .at(-1);
      assert.ok(mail, `a ${template} mail to ${address}`);
      const link = new URL(mail.vars.link ?? '');
      assert.equal(link.searchParams.get('type'), template);
      return link.searchParams.get('token') ?? '';
    },
    async expireToken(token) {
      const hash = createHash('sha256').update(token).digest('hex');
      await sql`update one_time_tokens set expires_at = now() - interval '1 second' where token_hash = ${hash}`.execute(
        database.db,
      );
    },
    close: async () => {
      await audit.close();
      await identity.close();
      await bus.transport.close();
      if (!shared) await database.drop();
    },
  };
}
