import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { AppError } from '../errors.ts';
import { PrivateNats } from '../testing/private-nats.ts';
import { JetStreamMailQueue, type JetStreamMailQueueOptions, type MailQueueNames } from './jetstream.ts';
import { mailJob, mailQueueContract, sleep, waitFor } from './mail-queue.contract.ts';

const URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = pino({ level: 'silent' });

/** Names no running stack uses, so the tests never touch a real `MAIL` stream. */
function testNames(): MailQueueNames {
  const tag = randomBytes(4).toString('hex');
  return {
    stream: `MAILTEST_${tag}`,
    subjectPrefix: `mailtest.${tag}.jobs`,
    consumer: 'mailer',
    deadLetterStream: `MAILTEST_${tag}_DEAD`,
    deadLetterSubject: `mailtest.${tag}.dead`,
  };
}

let admin: NatsConnection;
let jsm: JetStreamManager;
const queueNames = new WeakMap<JetStreamMailQueue, MailQueueNames>();

async function deleteStreams(names: MailQueueNames): Promise<void> {
  for (const stream of [names.stream, names.deadLetterStream]) await jsm.streams.delete(stream).catch(() => {});
}

async function openQueue(options: Partial<JetStreamMailQueueOptions> = {}): Promise<JetStreamMailQueue> {
  const names = options.names ? { ...testNames(), ...options.names } : testNames();
  const queue = await JetStreamMailQueue.open({ servers: URL, log: quiet, ackWaitMs: 2_000, ...options, names });
  queueNames.set(queue, names);
  return queue;
}

before(async () => {
  admin = await connect({ servers: URL });
  jsm = await jetstreamManager(admin);
});
after(async () => {
  await admin.drain();
});

/** Retries `enqueue` until the server is back and takes the job (at most 15 s). */
function enqueueOnceBack(queue: JetStreamMailQueue, job: ReturnType<typeof mailJob>, what: string): Promise<void> {
  return waitFor(
    what,
    () =>
      queue.enqueue(job).then(
        () => true,
        () => false,
      ),
    15_000,
  );
}

mailQueueContract('jetstream', {
  open: (options) => openQueue(options),
  destroy: async (queue) => {
    await queue.close();
    const names = queueNames.get(queue as JetStreamMailQueue);
    if (names) await deleteStreams(names);
  },
  openUnavailable: async () => {
    const nats = new PrivateNats();
    await nats.start();
    const queue = await JetStreamMailQueue.open({ servers: nats.url, log: quiet, names: testNames() });
    await nats.stop();
    return {
      queue,
      cleanup: async () => {
        await queue.close();
        await nats.destroy();
      },
    };
  },
});

describe('jetstream mail queue', () => {
  test('creates a work-queue stream on file storage, a duplicate window, and the consumer with explicit acks', async () => {
    const queue = await openQueue({ maxAttempts: 4, ackWaitMs: 7_000 });
    const names = queueNames.get(queue) as MailQueueNames;
    try {
      const consumer = await queue.consume(async () => {});
      await consumer.stop();
      const { config } = await jsm.streams.info(names.stream);
      assert.equal(config.retention, 'workqueue');
      assert.equal(config.storage, 'file');
      assert.deepEqual(config.subjects, [`${names.subjectPrefix}.>`]);
      assert.ok(config.duplicate_window >= 60 * 1e9, 'a duplicate window of at least a minute');
      const dead = await jsm.streams.info(names.deadLetterStream);
      assert.deepEqual(dead.config.subjects, [names.deadLetterSubject]);
      const info = await jsm.consumers.info(names.stream, names.consumer);
      assert.equal(info.config.ack_policy, 'explicit');
      assert.equal(info.config.ack_wait, 7_000 * 1e6);
      assert.equal(info.config.max_deliver, 5, 'maxAttempts plus the spare delivery');
    } finally {
      await queue.close();
      await deleteStreams(names);
    }
  });

  test('a dead-lettered job leaves the job stream and carries its error and request id in headers', async () => {
    const queue = await openQueue({ maxAttempts: 2, backoffMs: [50] });
    const names = queueNames.get(queue) as MailQueueNames;
    try {
      const consumer = await queue.consume(async () => {
        throw new Error('relay said no');
      });
      const job = mailJob();
      await queue.enqueue(job, { requestId: 'req-dl' });
      await waitFor('the dead letter', async () => (await queue.listDeadLetters()).length === 1);
      await consumer.stop();
      const stored = await jsm.streams.getMessage(names.deadLetterStream, { seq: 1 });
      assert.equal(stored?.header.get('x-request-id'), 'req-dl');
      assert.equal(stored?.header.get('x-mail-error'), 'relay said no');
      assert.equal(stored?.json<{ id: string }>().id, job.id);
      await waitFor('the job stream to empty', async () => (await jsm.streams.info(names.stream)).state.messages === 0);
    } finally {
      await queue.close();
      await deleteStreams(names);
    }
  });

  test('a job whose last attempt never reported back is dead-lettered by the spare delivery', async () => {
    const queue = await openQueue({ maxAttempts: 1, ackWaitMs: 1_000 });
    const names = queueNames.get(queue) as MailQueueNames;
    try {
      await (await queue.consume(async () => {})).stop(); // creates the consumer
      const job = mailJob();
      await queue.enqueue(job);
      // A mailer that takes the job and dies before acking it: its only attempt is used up.
      const crashed = await jetstream(admin).consumers.get(names.stream, names.consumer);
      const taken = await crashed.next({ expires: 5_000 });
      assert.equal(taken?.info.deliveryCount, 1);
      let calls = 0;
      const consumer = await queue.consume(async () => {
        calls++;
      });
      await waitFor('the dead letter', async () => (await queue.listDeadLetters()).length === 1);
      await consumer.stop();
      assert.equal(calls, 0, 'the handler is not called past the last attempt');
      const [dead] = await queue.listDeadLetters();
      assert.equal(dead?.job.id, job.id);
      assert.equal(dead?.attempts, 1);
    } finally {
      await queue.close();
      await deleteStreams(names);
    }
  });

  test('a restarted mailer on a new connection delivers what the stopped one left, none twice', async () => {
    const first = await openQueue();
    const names = queueNames.get(first) as MailQueueNames;
    const second = await openQueue({ names });
    try {
      const jobs = Array.from({ length: 8 }, () => mailJob());
      for (const job of jobs) await first.enqueue(job);
      const delivered: string[] = [];
      const handler = async (job: { id: string }) => {
        await sleep(20);
        delivered.push(job.id);
      };
      const a = await first.consume(handler);
      await waitFor('two deliveries', () => delivered.length >= 2);
      await a.stop();
      await first.close();
      const b = await second.consume(handler);
      await waitFor('every delivery', () => delivered.length >= jobs.length);
      await sleep(300);
      await b.stop();
      assert.equal(delivered.length, jobs.length);
      assert.deepEqual([...delivered].sort(), jobs.map((j) => j.id).sort());
    } finally {
      await second.close();
      await deleteStreams(names);
    }
  });

  test('keeps consuming across a NATS restart, and jobs stored before it survive it', async () => {
    const nats = new PrivateNats();
    await nats.start();
    const queue = await JetStreamMailQueue.open({
      servers: nats.url,
      log: quiet,
      names: testNames(),
      ackWaitMs: 2_000,
    });
    try {
      const delivered: string[] = [];
      const consumer = await queue.consume(async (job) => {
        delivered.push(job.id);
      });
      const before = mailJob();
      await queue.enqueue(before);
      await waitFor('the first delivery', () => delivered.includes(before.id));
      await consumer.stop();

      const stored = mailJob();
      await queue.enqueue(stored); // nobody consumes: it must outlive the restart
      const running = await queue.consume(async (job) => {
        await sleep(0);
        delivered.push(job.id);
      });
      await waitFor('the stored job', () => delivered.includes(stored.id));
      await running.stop();

      const kept = mailJob();
      await queue.enqueue(kept);
      await nats.stop();
      await assert.rejects(
        queue.enqueue(mailJob()),
        (err) => err instanceof AppError && err.code === 'service_unavailable',
      );
      await nats.start();
      await waitFor(
        'the queue to reconnect',
        () =>
          queue.ping().then(
            () => true,
            () => false,
          ),
        15_000,
      );
      const again = await queue.consume(async (job) => {
        delivered.push(job.id);
      });
      await waitFor('the job stored before the restart', () => delivered.includes(kept.id), 15_000);
      await nats.stop();
      await nats.start();
      const after = mailJob();
      await enqueueOnceBack(queue, after, 'an enqueue after the second restart');
      await waitFor('the running consumer to deliver after the restart', () => delivered.includes(after.id), 20_000);
      await again.stop();
      assert.equal(new Set(delivered).size, delivered.length, 'none twice');
    } finally {
      await queue.close();
      await nats.destroy();
    }
  });

  test('recreates a stream and consumer lost with the server store, and keeps consuming', async () => {
    const nats = new PrivateNats();
    await nats.start();
    const queue = await JetStreamMailQueue.open({ servers: nats.url, log: quiet, names: testNames() });
    try {
      const delivered: string[] = [];
      const consumer = await queue.consume(async (job) => {
        delivered.push(job.id);
      });
      const first = mailJob();
      await queue.enqueue(first);
      await waitFor('the first delivery', () => delivered.includes(first.id));
      await nats.stop();
      nats.wipe();
      await nats.start();
      const second = mailJob();
      await enqueueOnceBack(queue, second, 'an enqueue into the recreated stream');
      await waitFor('the delivery from the recreated consumer', () => delivered.includes(second.id), 15_000);
      await consumer.stop();
    } finally {
      await queue.close();
      await nats.destroy();
    }
  });

  test('enqueue does not hang when NATS is gone: it fails within its timeout', async () => {
    const nats = new PrivateNats();
    await nats.start();
    const queue = await JetStreamMailQueue.open({
      servers: nats.url,
      log: quiet,
      names: testNames(),
      timeoutMs: 1_000,
    });
    try {
      await nats.stop();
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        await assert.rejects(
          queue.enqueue(mailJob()),
          (err) => err instanceof AppError && err.code === 'service_unavailable',
        );
        assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
      }
    } finally {
      await queue.close();
      await nats.destroy();
    }
  });
});
