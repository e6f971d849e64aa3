import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { AuditEvent } from '@gatehouse/contracts';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { sleep, waitFor } from '../mail-queue/mail-queue.contract.ts';
import { PrivateNats } from '../testing/private-nats.ts';
import { anEvent, auditQueueContract } from './audit-queue.contract.ts';
import { type AuditQueueNames, JetStreamAuditQueue, type JetStreamAuditQueueOptions } from './jetstream.ts';
import type { AuditQueue } from './queue.ts';

const URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = pino({ level: 'silent' });

/** Names no running stack uses, so the tests never touch a real `AUDIT` stream. */
function testNames(): AuditQueueNames {
  const tag = randomBytes(4).toString('hex');
  return { stream: `AUDITTEST_${tag}`, subjectPrefix: `audittest.${tag}.events`, consumer: 'identity' };
}

let admin: NatsConnection;
let jsm: JetStreamManager;
const namesOf = new WeakMap<AuditQueue, AuditQueueNames>();
const handles = new WeakMap<AuditQueue, JetStreamAuditQueue[]>();

async function openQueue(options: Partial<JetStreamAuditQueueOptions> = {}): Promise<JetStreamAuditQueue> {
  const names = { ...testNames(), ...options.names };
  const queue = await JetStreamAuditQueue.open({ servers: URL, log: quiet, ackWaitMs: 2_000, ...options, names });
  namesOf.set(queue, names);
  return queue;
}

const messagesIn = async (stream: string) => (await jsm.streams.info(stream)).state.messages;

before(async () => {
  admin = await connect({ servers: URL });
  jsm = await jetstreamManager(admin);
});
after(async () => {
  await admin.drain();
});

auditQueueContract('jetstream', {
  open: (options) => openQueue(options),
  again: async (queue) => {
    const names = namesOf.get(queue) as AuditQueueNames;
    const other = await openQueue({ names });
    handles.set(queue, [...(handles.get(queue) ?? []), other]);
    return other;
  },
  destroy: async (queue) => {
    for (const other of handles.get(queue) ?? []) await other.close();
    await queue.close();
    const names = namesOf.get(queue);
    if (names) await jsm.streams.delete(names.stream).catch(() => {});
  },
  settled: (queue) => (queue as JetStreamAuditQueue).flush(),
  held: (queue) => messagesIn((namesOf.get(queue) as AuditQueueNames).stream),
});

describe('jetstream audit queue', () => {
  test('creates a work-queue stream on file storage and a consumer that never gives up on an event', async () => {
    const queue = await openQueue({ ackWaitMs: 7_000 });
    const names = namesOf.get(queue) as AuditQueueNames;
    try {
      await (await queue.consume(async () => {})).stop();
      const { config } = await jsm.streams.info(names.stream);
      assert.equal(config.retention, 'workqueue');
      assert.equal(config.storage, 'file');
      assert.equal(config.discard, 'new');
      assert.deepEqual(config.subjects, [`${names.subjectPrefix}.>`]);
      const info = await jsm.consumers.info(names.stream, names.consumer);
      assert.equal(info.config.ack_policy, 'explicit');
      assert.equal(info.config.ack_wait, 7_000 * 1e6);
      assert.equal(info.config.max_deliver, -1, 'no last attempt: an event stays until written');
    } finally {
      await queue.close();
      await jsm.streams.delete(names.stream).catch(() => {});
    }
  });

  test('a batch whose writer died before acking is handed to another replica, none lost', async () => {
    const names = testNames();
    const dying = await connect({ servers: URL });
    const first = await JetStreamAuditQueue.open({ connection: dying, log: quiet, names, ackWaitMs: 1_500 });
    const second = await openQueue({ names, ackWaitMs: 1_500 });
    let revive: () => void = () => {};
    try {
      let inHand: AuditEvent[] = [];
      await first.consume(async (events) => {
        inHand = events;
        await new Promise<void>((resolve) => {
          revive = resolve; // the process dies while writing: this never returns while it matters
        });
      });
      const events = [anEvent(), anEvent(), anEvent()];
      for (const event of events) first.record(event);
      await first.flush();
      await waitFor('the first replica to hold the batch', () => inHand.length === 3);
      await dying.close(); // no ack, no heartbeat: the server redelivers after ack_wait
      const written: string[] = [];
      const consumer = await second.consume(async (batch) => {
        written.push(...batch.map((e) => e.id));
      });
      await waitFor('the other replica to write the batch', () => written.length >= 3, 15_000);
      await waitFor('the acks', async () => (await messagesIn(names.stream)) === 0);
      await consumer.stop();
      assert.deepEqual(written.sort(), events.map((e) => e.id).sort());
    } finally {
      revive(); // lets the dead replica's loop end (its connection is gone: nothing is acked)
      await second.close();
      await jsm.streams.delete(names.stream).catch(() => {});
    }
  });

  test('a producer that may not make the stream keeps what it records before the writer made it, and publishes it then', async () => {
    const names = testNames();
    const producer = await JetStreamAuditQueue.open({
      servers: URL,
      log: quiet,
      names,
      manageStreams: false,
      republishEveryMs: 100,
    });
    let writer: JetStreamAuditQueue | undefined;
    try {
      const events = [anEvent(), anEvent()];
      for (const event of events) producer.record(event);
      await waitFor('both kept for later (no stream yet)', async () => {
        await producer.flush();
        return producer.retained === 2;
      });
      writer = await openQueue({ names });
      const written: string[] = [];
      const consumer = await writer.consume(async (batch) => {
        written.push(...batch.map((e) => e.id));
      });
      await waitFor('both written once the stream exists', () => written.length >= 2, 15_000);
      await sleep(300);
      await consumer.stop();
      assert.deepEqual(written.sort(), events.map((e) => e.id).sort());
      assert.equal(producer.retained, 0);
    } finally {
      await producer.close();
      await writer?.close();
      await jsm.streams.delete(names.stream).catch(() => {});
    }
  });

  test('events recorded while NATS is down are kept and published once it is back; the stored ones survive it', async () => {
    const nats = new PrivateNats();
    await nats.start();
    const names = testNames();
    const writer = await JetStreamAuditQueue.open({ servers: nats.url, log: quiet, names });
    const producer = await JetStreamAuditQueue.open({
      servers: nats.url,
      log: quiet,
      names,
      manageStreams: false,
      republishEveryMs: 100,
      timeoutMs: 1_000,
    });
    try {
      const stored = anEvent();
      producer.record(stored); // nobody consumes yet: it must outlive the restart in the stream
      await producer.flush();
      await nats.stop();
      const whileDown = [anEvent(), anEvent()];
      for (const event of whileDown) producer.record(event);
      await producer.flush();
      assert.equal(producer.retained, 2, 'kept in memory while NATS is away');
      await nats.start();
      const written: string[] = [];
      const consumer = await waitForConsume(writer, async (batch) => {
        written.push(...batch.map((e) => e.id));
      });
      await waitFor('every event written', () => written.length >= 3, 20_000);
      await sleep(300);
      await consumer.stop();
      assert.deepEqual(written.sort(), [stored, ...whileDown].map((e) => e.id).sort());
    } finally {
      await producer.close();
      await writer.close();
      await nats.destroy();
    }
  });
});

/** `queue.consume`, retried until the queue's connection is back (at most 15 s). */
async function waitForConsume(
  queue: JetStreamAuditQueue,
  handler: (events: AuditEvent[]) => Promise<void>,
): Promise<{ stop(): Promise<void> }> {
  let consumer: { stop(): Promise<void> } | undefined;
  await waitFor(
    'the consumer to start after the restart',
    () =>
      queue.consume(handler).then(
        (c) => {
          consumer = c;
          return true;
        },
        () => false,
      ),
    15_000,
  );
  return consumer as { stop(): Promise<void> };
}
