// The shipped NATS server configuration (infra/nats/nats-server.conf) with keys made by the shipped
// generator (infra/scripts/nats-keys.mjs), on a private nats-server: who may connect, and what each
// service's credential may publish and subscribe, through the real NatsTransport, Bus and
// JetStreamMailQueue.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '@gatehouse/contracts';
import { queueGroupOf, requests } from '@gatehouse/contracts';
import { jetstreamManager } from '@nats-io/jetstream';
import { createUser } from '@nats-io/nkeys';
import { connect, type NatsConnection, RequestError } from '@nats-io/transport-node';
import { pino } from 'pino';
import { anEvent } from '../audit-queue/audit-queue.contract.ts';
import { auditEvent } from '../audit-queue/event.ts';
import { JetStreamAuditQueue } from '../audit-queue/jetstream.ts';
import { isAppError } from '../errors.ts';
import { JetStreamMailQueue } from '../mail-queue/jetstream.ts';
import { mailJob, waitFor } from '../mail-queue/mail-queue.contract.ts';
import { PermanentMailError } from '../mail-queue/policy.ts';
import { PrivateNats } from '../testing/private-nats.ts';
import { Bus } from './bus.ts';
import { NatsTransport } from './nats.ts';
import { natsConnectionOptions } from './nats-options.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CONFIG = join(ROOT, 'infra/nats/nats-server.conf');
const KEYGEN = join(ROOT, 'infra/scripts/nats-keys.mjs');
const SERVICES = ['gateway', 'identity', 'session', 'mfa', 'mailer'] as const;
type Service = (typeof SERVICES)[number];
const quiet = pino({ level: 'silent' });

const keys = mkdtempSync(join(tmpdir(), 'gatehouse-nkeys-'));
execFileSync(process.execPath, [KEYGEN, '--out', keys], { timeout: 20_000, stdio: 'ignore' });
const seedFile = (service: Service) => join(keys, `${service}.nk`);
const seedOf = (service: Service) => readFileSync(seedFile(service), 'utf8').trim();
const publicKeys = Object.fromEntries(
  readFileSync(join(keys, 'public.env'), 'utf8')
    .split('\n')
    .filter((line) => /^NKEY_[A-Z]+=U/.test(line))
    .map((line) => line.split('=') as [string, string]),
);

const nats = new PrivateNats({ config: CONFIG, env: publicKeys });
const open: { close(): Promise<unknown> }[] = [];

before(() => nats.start());
after(async () => {
  for (const c of open.reverse()) await c.close().catch(() => {});
  await nats.destroy();
  rmSync(keys, { recursive: true, force: true });
});

/** A plain nats.js connection with `service`'s credential (its seed file), as the services connect. */
async function as(service: Service): Promise<NatsConnection> {
  const nc = await connect({
    ...natsConnectionOptions(nats.url, service, { nkey: seedFile(service) }),
    timeout: 5_000,
  });
  open.push(nc);
  return nc;
}

async function transportAs(service: Service, nkey = seedFile(service)): Promise<NatsTransport> {
  const transport = await NatsTransport.connect(nats.url, service, quiet, { nkey });
  open.push(transport);
  return transport;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The error's name, or that of an error in its cause chain, that matches. */
function causedBy(err: unknown, name: string): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (e.name === name) return true;
  return false;
}

/** Whether the server lets `nc` subscribe to `subject`: a refused subscription is closed with a permissions violation. */
async function maySubscribe(nc: NatsConnection, subject: string): Promise<boolean> {
  const sub = nc.subscribe(subject);
  const closed = sub.closed.then((err) => err ?? new Error('closed'));
  // The server answers a SUB it refuses with -ERR before the PONG of this flush.
  await nc.flush();
  const outcome = await Promise.race([
    closed,
    new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 200)),
  ]);
  if (outcome === 'open') {
    sub.unsubscribe();
    return true;
  }
  assert.ok(causedBy(outcome, 'PermissionViolationError'), `unexpected: ${outcome}`);
  return false;
}

/**
 * Whether `nc` may publish requests on `subject` (nothing serves it here): an allowed one fails
 * with "no responders", a refused one with a permissions violation.
 */
async function mayRequest(nc: NatsConnection, subject: string): Promise<boolean> {
  try {
    await nc.request(subject, '{}', { timeout: 3_000 });
  } catch (err) {
    if (err instanceof RequestError && err.isNoResponders()) return true;
    if (causedBy(err, 'PermissionViolationError')) return false;
    throw err;
  }
  throw new Error(`${subject} was answered: nothing should serve it in this test`);
}

describe('NATS authentication (infra/nats/nats-server.conf)', () => {
  test('a client without credentials is refused', async () => {
    await assert.rejects(
      within(connect({ servers: nats.url, timeout: 5_000, reconnect: false }), 10_000, 'a plain connect'),
      (err: Error) => causedBy(err, 'AuthorizationError'),
    );
    // The transport too: it gives up instead of waiting forever for a server that refuses it.
    await assert.rejects(
      within(NatsTransport.connect(nats.url, 'gateway', quiet), 10_000, 'a transport without credentials'),
      (err: Error) => causedBy(err, 'AuthorizationError'),
    );
  });

  test('a client with a seed the server does not know is refused', async () => {
    const stranger = new TextDecoder().decode(createUser().getSeed());
    await assert.rejects(
      within(NatsTransport.connect(nats.url, 'gateway', quiet, { nkey: stranger }), 10_000, 'an unknown seed'),
      (err: Error) => causedBy(err, 'AuthorizationError'),
    );
  });

  test('each service connects with its own seed, given as a file or as the seed itself', async () => {
    for (const service of SERVICES) {
      const byFile = await transportAs(service);
      await byFile.ping();
      const bySeed = await transportAs(service, seedOf(service));
      await bySeed.ping();
    }
  });
});

describe('NATS permissions per service', () => {
  test('only the owner subscribes to its request subjects; the gateway to none', async () => {
    const conns = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await as(s)] as const)));
    for (const owner of ['identity', 'session', 'mfa', 'mailer'] as const) {
      for (const service of SERVICES) {
        assert.equal(
          await maySubscribe(conns[service] as NatsConnection, `${owner}.>`),
          service === owner,
          `${service} subscribing to ${owner}.>`,
        );
      }
    }
  });

  test("a service may not read another service's inbox, nor every inbox", async () => {
    const gateway = await as('gateway');
    const identity = await as('identity');
    assert.equal(await maySubscribe(gateway, '_INBOX.session.>'), false);
    assert.equal(await maySubscribe(gateway, '_INBOX.>'), false);
    assert.equal(await maySubscribe(identity, '_INBOX.gateway.>'), false);
    assert.equal(await maySubscribe(identity, '>'), false);
    assert.equal(await maySubscribe(gateway, '_INBOX.gateway.>'), true);
  });

  test('who may send each request of the contract (the gateway most, mfa and identity a few)', async () => {
    const conns = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await as(s)] as const)));
    // Who sends what, read off the services' bus.request calls. A new subject in packages/contracts
    // fails here until infra/nats/nats-server.conf (and this list) says who sends it.
    const notOnlyGateway: Record<string, Service[]> = {
      'identity.user.set_mfa': ['mfa'],
      'mfa.factors.forget': ['identity'],
      'session.user.revoke': ['gateway', 'identity'],
    };
    const sentBy = (subject: string): Service[] => notOnlyGateway[subject] ?? ['gateway'];
    for (const subject of Object.values(requests)) {
      for (const service of SERVICES) {
        assert.equal(
          await mayRequest(conns[service] as NatsConnection, subject),
          sentBy(subject).includes(service),
          `${service} sending ${subject} (owned by ${queueGroupOf(subject)})`,
        );
      }
    }
  });

  test('identity may not create sessions: its publish never reaches the session service', async () => {
    const session = await as('session');
    const identity = await as('identity');
    const gateway = await as('gateway');
    const seen: string[] = [];
    session.subscribe(requests.sessionCreate, {
      callback: (_err, msg) => {
        seen.push(msg.string());
      },
    });
    await session.flush();
    await assert.rejects(
      identity.request(requests.sessionCreate, '{"forged":true}', { timeout: 3_000 }),
      (err: Error) => causedBy(err, 'PermissionViolationError'),
    );
    identity.publish(requests.sessionCreate, '{"forged":true}');
    await identity.flush();
    gateway.publish(requests.sessionCreate, '{"from":"gateway"}');
    await gateway.flush();
    await waitFor('the gateway message to arrive', () => seen.length > 0, 5_000);
    await session.flush();
    assert.deepEqual(seen, ['{"from":"gateway"}']);
  });

  test('session serves session.jwks.get and the gateway gets it through Bus and NatsTransport; identity cannot answer it', async () => {
    const realKey = { kty: 'OKP', kid: 'real', alg: 'EdDSA', use: 'sig' as const, crv: 'Ed25519', x: 'AAAA' };
    const sessionTransport = await transportAs('session');
    const session = new Bus(sessionTransport, quiet, { timeoutMs: 3_000 });
    session.serve('session.jwks.get', async () => ({ keys: [realKey] }));
    // An impostor: identity serving the subject in the session queue group, with its own key.
    const identityTransport = await transportAs('identity');
    let impostorCalls = 0;
    new Bus(identityTransport, quiet, { timeoutMs: 3_000 }).serve('session.jwks.get', async () => {
      impostorCalls++;
      return { keys: [{ ...realKey, kid: 'forged' }] };
    });
    await sessionTransport.connection.flush();
    await identityTransport.connection.flush();

    const gateway = new Bus(await transportAs('gateway'), quiet, { timeoutMs: 3_000 });
    for (let i = 0; i < 20; i++) {
      const { keys: got } = await gateway.request('session.jwks.get', {});
      assert.deepEqual(got, [realKey]);
    }
    assert.equal(impostorCalls, 0);
  });

  test('a service answers the gateway through allow_responses, and the health checks go through', async () => {
    const gateway = new Bus(await transportAs('gateway'), quiet, { timeoutMs: 3_000 });
    for (const owner of ['identity', 'session', 'mfa', 'mailer'] as const) {
      const transport = await transportAs(owner);
      new Bus(transport, quiet, { timeoutMs: 3_000 }).serve(`${owner}.health.check`, async () => ({ ok: true }));
      await transport.connection.flush();
      assert.deepEqual(await gateway.request(`${owner}.health.check`, {}), { ok: true });
    }
  });

  test('events: each goes from its publisher to its subscribers; a forged user deletion does not reach mfa', async () => {
    const gateway = await as('gateway');
    const session = await as('session');
    const identity = await as('identity');
    const mfa = await as('mfa');
    const got: string[] = [];
    const listen = (nc: NatsConnection, subject: string, who: string) =>
      nc.subscribe(subject, {
        callback: (_err, msg) => {
          got.push(`${who} ${subject} ${msg.string()}`);
        },
      });
    listen(gateway, 'events.session.revoked', 'gateway');
    listen(gateway, 'events.keys.rotated', 'gateway');
    listen(session, 'events.keys.rotated', 'session');
    listen(mfa, 'events.user.deleted', 'mfa');
    listen(gateway, 'events.project.changed', 'gateway');
    listen(identity, 'events.project.changed', 'identity');
    await Promise.all([gateway.flush(), session.flush(), mfa.flush(), identity.flush()]);

    gateway.publish('events.user.deleted', 'forged'); // would wipe the user's MFA factors
    session.publish('events.user.deleted', 'forged');
    identity.publish('events.session.revoked', 'forged');
    gateway.publish('events.project.changed', 'forged'); // would make every gateway reload a project
    await Promise.all([gateway.flush(), session.flush(), identity.flush()]);
    session.publish('events.session.revoked', 'real');
    session.publish('events.keys.rotated', 'real');
    identity.publish('events.user.deleted', 'real');
    identity.publish('events.project.changed', 'real');
    await Promise.all([session.flush(), identity.flush()]);
    await waitFor('the real events', () => got.length >= 6, 5_000);
    await Promise.all([gateway.flush(), session.flush(), mfa.flush(), identity.flush()]);
    assert.deepEqual(got.sort(), [
      'gateway events.keys.rotated real',
      'gateway events.project.changed real',
      'gateway events.session.revoked real',
      'identity events.project.changed real',
      'mfa events.user.deleted real',
      'session events.keys.rotated real',
    ]);
  });
});

describe('NATS permissions on the mail queue (stream MAIL, consumer mailer)', () => {
  test('identity enqueues, cannot read; only the mailer consumes and dead-letters', async () => {
    const identity = await as('identity');
    const mailer = await as('mailer');
    const gateway = await as('gateway');

    // Before the mailer made the streams, identity (which may not create them) waits.
    await assert.rejects(JetStreamMailQueue.open({ connection: identity, log: quiet, manageStreams: false }), (err) =>
      isAppError(err, 'service_unavailable'),
    );
    await assert.rejects(JetStreamMailQueue.open({ connection: identity, log: quiet, timeoutMs: 2_000 }), (err) =>
      isAppError(err, 'service_unavailable'),
    );

    const mailerQueue = await JetStreamMailQueue.open({ connection: mailer, log: quiet, backoffMs: [100] });
    open.push(mailerQueue);
    const producer = await JetStreamMailQueue.open({ connection: identity, log: quiet, manageStreams: false });
    open.push(producer);
    const job = mailJob();
    await producer.enqueue(job);
    const poison = mailJob({ to: 'refused@example.com' });
    await producer.enqueue(poison);
    await assert.rejects(JetStreamMailQueue.open({ connection: gateway, log: quiet, manageStreams: false }));

    // Identity cannot read the stream: no message get, no consumer (durable, ephemeral or the mailer's).
    const ijsm = await jetstreamManager(identity, { timeout: 2_000, checkAPI: false });
    const denied = (err: unknown) => causedBy(err, 'PermissionViolationError');
    await assert.rejects(ijsm.streams.getMessage('MAIL', { seq: 1 }), denied);
    await assert.rejects(ijsm.consumers.info('MAIL', 'mailer'), denied);
    await assert.rejects(ijsm.jetstream().consumers.get('MAIL', 'mailer'), denied);
    await assert.rejects(ijsm.consumers.add('MAIL', { durable_name: 'snoop' }), denied);
    await assert.rejects(ijsm.consumers.add('MAIL', { filter_subject: 'mail.jobs.>' }), denied);
    // Nor redefine what streams capture (a stream on session.> would store every session request).
    await assert.rejects(ijsm.streams.add({ name: 'SNOOP', subjects: ['session.>'] }), denied);
    await assert.rejects(ijsm.streams.update('MAIL', { subjects: ['mail.jobs.>', 'session.>'] }), denied);
    await assert.rejects(
      producer.consume(async () => {}),
      (err) => isAppError(err, 'service_unavailable'),
    );

    // The mailer consumes both jobs: one sent (acked), one refused for good (dead-lettered).
    const handled: string[] = [];
    const consumer = await mailerQueue.consume(async (j) => {
      handled.push(j.id);
      if (j.id === poison.id) throw new PermanentMailError('550 mailbox unavailable');
    });
    try {
      const mjsm = await jetstreamManager(mailer, { timeout: 2_000, checkAPI: false });
      await waitFor(
        'both jobs handled, the stream empty, one dead letter',
        async () => {
          const [jobs, dead] = await Promise.all([mjsm.streams.info('MAIL'), mjsm.streams.info('MAIL_DEAD')]);
          return handled.length >= 2 && jobs.state.messages === 0 && dead.state.messages === 1;
        },
        10_000,
      );
      assert.deepEqual(handled.sort(), [job.id, poison.id].sort());
    } finally {
      await consumer.stop();
    }
  });
});

describe('NATS permissions on the audit queue (stream AUDIT, consumer identity)', () => {
  test('the gateway publishes every type, the session service its one; identity alone makes, reads and acks the stream', async () => {
    const identity = await as('identity');
    const gateway = await as('gateway');
    const session = await as('session');
    const mfa = await as('mfa');
    const mailer = await as('mailer');

    // The writer makes the stream; the producers may not.
    await assert.rejects(JetStreamAuditQueue.open({ connection: gateway, log: quiet, timeoutMs: 2_000 }), (err) =>
      isAppError(err, 'service_unavailable'),
    );
    const writer = await JetStreamAuditQueue.open({ connection: identity, log: quiet, batchWaitMs: 20 });
    open.push(writer);
    const written: AuditEvent[] = [];
    const consumer = await writer.consume(async (events) => {
      written.push(...events);
    });
    try {
      const fromGateway = await JetStreamAuditQueue.open({ connection: gateway, log: quiet, manageStreams: false });
      const fromSession = await JetStreamAuditQueue.open({ connection: session, log: quiet, manageStreams: false });
      open.push(fromGateway, fromSession);
      const signIn = anEvent();
      const reuse = auditEvent({
        type: 'refresh_token.reused',
        project_id: signIn.project_id,
        user_id: signIn.user_id,
        data: { session_id: signIn.project_id, cause: 'replayed' },
      });
      fromGateway.record(signIn);
      fromSession.record(reuse);
      await Promise.all([fromGateway.flush(), fromSession.flush()]);
      assert.equal(fromGateway.retained + fromSession.retained, 0, 'both taken by JetStream');

      // Anyone else's event is refused by the server: a forged sign-in from the session
      // service, or an event from mfa, the mailer, or identity (which publishes none).
      const js = (nc: NatsConnection) => jetstreamManager(nc, { timeout: 2_000, checkAPI: false });
      const forged = anEvent();
      const denied = (err: unknown) => causedBy(err, 'PermissionViolationError');
      for (const nc of [session, mfa, mailer, identity]) {
        await assert.rejects(
          (await js(nc)).jetstream().publish(`audit.events.${forged.type}`, JSON.stringify(forged)),
          denied,
        );
      }
      await waitFor('the two real events written', () => written.length >= 2, 10_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(written.map((e) => e.id).sort(), [signIn.id, reuse.id].sort(), 'nothing forged written');

      // The producers cannot read the stream nor take its consumer's deliveries.
      const gjsm = await js(gateway);
      await assert.rejects(gjsm.streams.getMessage('AUDIT', { seq: 1 }), denied);
      await assert.rejects(gjsm.consumers.info('AUDIT', 'identity'), denied);
      await assert.rejects(gjsm.consumers.add('AUDIT', { durable_name: 'snoop' }), denied);
      await assert.rejects(gjsm.streams.update('AUDIT', { subjects: ['audit.events.>', 'session.>'] }), denied);
      await assert.rejects(
        fromGateway.consume(async () => {}),
        (err) => isAppError(err, 'service_unavailable'),
      );
      // Only the gateway asks identity for the log.
      for (const [service, nc] of [
        ['gateway', gateway],
        ['session', session],
        ['mfa', mfa],
      ] as const) {
        assert.equal(await mayRequest(nc, requests.identityAuditList), service === 'gateway', service);
      }
    } finally {
      await consumer.stop();
    }
  });
});
