import { join } from 'node:path';
import { MemoryRateLimitStore, startGateway } from '@gatehouse/gateway';
import { MemoryFlowStore, migrate, openDatabase, startIdentity } from '@gatehouse/identity';
import {
  Bus,
  type Config,
  embeddedSecretKey,
  InProcessAuditQueue,
  InProcessMailQueue,
  InProcessTransport,
  type Logger,
} from '@gatehouse/kit';
import { startMailer } from '@gatehouse/mailer';
import { migrate as migrateMfa, startMfa } from '@gatehouse/mfa';
import { MemorySessionStore, startSession } from '@gatehouse/session';

/** A running embedded Gatehouse: all five services in this process. */
export interface Embedded {
  url: string;
  close(): Promise<void>;
}

/**
 * The embedded mode: the same five services as the stack, wired to the
 * in-process bus, an embedded Postgres in DATA_DIR (or DATABASE_URL when set),
 * the in-memory session store and in-memory rate limits. Only the adapters
 * differ from the stack; every rule runs the same code.
 */
export async function startEmbedded(config: Config, log: Logger): Promise<Embedded> {
  const secretKey = embeddedSecretKey(config);
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: config.busTimeoutMs });
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    log,
    pool: { max: config.databasePoolSize },
  });
  await migrate(db);
  // The mfa service keeps its own tables (and migration bookkeeping) in the same embedded database.
  await migrateMfa(db);

  const closers: (() => Promise<unknown>)[] = [];
  const child = (name: string) => log.child({ service: name });
  // The in-process stand-in for JetStream: the mailer consumes what identity queues.
  const mail = new InProcessMailQueue({ log: child('mail-queue') });
  closers.push(() => mail.close());
  // The in-process stand-in for the AUDIT stream: the gateway and the session service record
  // events, identity writes them.
  const audit = new InProcessAuditQueue({ log: child('audit-queue') });
  // One process: social sign-in flows wait in memory.
  const identity = await startIdentity({
    bus,
    db,
    config,
    mail,
    audit,
    flows: new MemoryFlowStore(),
    log: child('identity'),
  });
  // Closed in reverse: the audit queue hands what it still holds to identity's writer while the
  // database is open, then the writer stops, then the database closes.
  closers.push(
    () => db.destroy(),
    () => identity.close(),
    () => audit.close(),
  );
  // Sessions and signing keys in the process.
  const sessionStore = new MemorySessionStore();
  const session = await startSession({
    bus,
    sessionStore,
    keyStore: sessionStore,
    config,
    log: child('session'),
    secretKey,
    previousSecretKeys: config.secretKeyPrevious,
    audit,
  });
  closers.push(() => session.close());
  const mfa = await startMfa({
    bus,
    db,
    config,
    secretKey,
    previousSecretKeys: config.secretKeyPrevious,
    log: child('mfa'),
  });
  const mailer = await startMailer({
    bus,
    queue: mail,
    config,
    log: child('mailer'),
    outboxDir: join(config.dataDir, 'outbox'),
  });
  closers.push(
    () => mfa.close(),
    () => mailer.close(),
  );
  const gateway = await startGateway({
    bus,
    config,
    log: child('gateway'),
    rateLimitStore: new MemoryRateLimitStore(),
    audit,
  });
  closers.push(() => gateway.close());

  const address = gateway.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  return {
    url: `http://${config.host}:${port}`,
    close: async () => {
      for (const close of closers.reverse()) await close();
      await bus.transport.close();
    },
  };
}
