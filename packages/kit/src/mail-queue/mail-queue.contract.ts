import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { MailJob } from '@gatehouse/contracts';
import { AppError } from '../errors.ts';
import { type MailDeadLetter, PermanentMailError } from './policy.ts';
import type { MailDelivery, MailQueue } from './queue.ts';

/** A queue under test: the interface plus a way to read its dead letters. */
export type TestMailQueue = MailQueue & { listDeadLetters(): Promise<MailDeadLetter[]> };

export interface MailQueueHarness {
  /** A fresh, empty queue of its own (own stream names) with the given retry policy. */
  open(options: { maxAttempts: number; backoffMs: number[] }): Promise<TestMailQueue>;
  /** Closes `queue` and removes what `open` created (JetStream: the test streams). */
  destroy(queue: TestMailQueue): Promise<void>;
  /** A queue whose backend cannot store anything right now, and how to clean it up. */
  openUnavailable(): Promise<{ queue: MailQueue; cleanup(): Promise<void> }>;
}

/** A valid job for template `verify_email`, unique unless an id is given. */
export function mailJob(overrides: Partial<MailJob> = {}): MailJob {
  return {
    v: 1,
    id: randomUUID(),
    project_id: '0190f5a0-0000-7000-8000-000000000001',
    template: 'verify_email',
    to: 'ada@example.com',
    vars: { app_name: 'Gatehouse', link: 'https://auth.example.com/verify?token=t0k3n', expires_in: '24 hours' },
    created_at: new Date().toISOString(),
    ...overrides,
  };
}

/** Polls `ok` every 10 ms; fails the test with `what` after `ms`. */
export async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Seen {
  job: MailJob;
  delivery: MailDelivery;
  at: number;
}

/**
 * The behaviour every mail queue must show, run against each implementation:
 * each job delivered once, dedup by id, retries with growing delays, dead
 * letters after the last attempt (at once for a permanent failure), jobs kept
 * until a consumer starts, none lost or doubled across a consumer restart,
 * and a prompt `service_unavailable` when the queue cannot store.
 */
export function mailQueueContract(name: string, harness: MailQueueHarness): void {
  describe(`${name} mail queue contract`, () => {
    const opened: TestMailQueue[] = [];
    const open = async (options = { maxAttempts: 3, backoffMs: [100, 300] }) => {
      const queue = await harness.open(options);
      opened.push(queue);
      return queue;
    };
    after(async () => {
      for (const queue of opened) await harness.destroy(queue);
    });

    const recorder = () => {
      const seen: Seen[] = [];
      const handler = async (job: MailJob, delivery: MailDelivery) => {
        seen.push({ job, delivery, at: Date.now() });
      };
      return { seen, handler };
    };

    test('delivers an enqueued job once, with its request id', async () => {
      const queue = await open();
      const { seen, handler } = recorder();
      const consumer = await queue.consume(handler);
      const job = mailJob();
      await queue.enqueue(job, { requestId: 'req-contract-1' });
      await waitFor('the delivery', () => seen.length >= 1);
      await sleep(300);
      await consumer.stop();
      assert.equal(seen.length, 1, 'delivered exactly once');
      assert.deepEqual(seen[0]?.job, job);
      assert.equal(seen[0]?.delivery.attempt, 1);
      assert.equal(seen[0]?.delivery.last, false);
      assert.equal(seen[0]?.delivery.requestId, 'req-contract-1');
    });

    test('stores a job enqueued twice with the same id once', async () => {
      const queue = await open();
      const job = mailJob();
      await queue.enqueue(job);
      await queue.enqueue(job);
      const { seen, handler } = recorder();
      const consumer = await queue.consume(handler);
      await waitFor('the delivery', () => seen.length >= 1);
      // Even once the first copy is delivered and gone, the id is still remembered.
      await queue.enqueue(job);
      await sleep(300);
      await consumer.stop();
      assert.equal(seen.length, 1);
    });

    test('refuses a malformed job with validation_failed', async () => {
      const queue = await open();
      const bad = { ...mailJob(), template: 'nope' } as unknown as MailJob;
      await assert.rejects(queue.enqueue(bad), (err) => err instanceof AppError && err.code === 'validation_failed');
    });

    test('retries a failing handler with growing delays, then dead-letters it after the last attempt', async () => {
      const queue = await open({ maxAttempts: 3, backoffMs: [100, 300] });
      const seen: Seen[] = [];
      const consumer = await queue.consume(async (job, delivery) => {
        seen.push({ job, delivery, at: Date.now() });
        throw new Error('smtp is down');
      });
      const job = mailJob();
      await queue.enqueue(job, { requestId: 'req-dead' });
      await waitFor('the dead letter', async () => (await queue.listDeadLetters()).length >= 1);
      await sleep(400);
      await consumer.stop();

      assert.deepEqual(
        seen.map((s) => s.delivery.attempt),
        [1, 2, 3],
      );
      assert.deepEqual(
        seen.map((s) => s.delivery.last),
        [false, false, true],
      );
      const [a, b, c] = seen.map((s) => s.at) as [number, number, number];
      assert.ok(b - a >= 90, `first retry waited ${b - a} ms, expected ~100`);
      assert.ok(c - b >= 280, `second retry waited ${c - b} ms, expected ~300`);
      assert.ok(c - b > b - a, 'the delays grow');

      const dead = await queue.listDeadLetters();
      assert.equal(dead.length, 1);
      assert.deepEqual(dead[0]?.job, job);
      assert.equal(dead[0]?.error, 'smtp is down');
      assert.equal(dead[0]?.attempts, 3);
      assert.equal(dead[0]?.requestId, 'req-dead');
    });

    test('delivers on a retry after a failure, and does not dead-letter it', async () => {
      const queue = await open();
      const seen: Seen[] = [];
      const consumer = await queue.consume(async (job, delivery) => {
        seen.push({ job, delivery, at: Date.now() });
        if (delivery.attempt === 1) throw new Error('greylisted');
      });
      await queue.enqueue(mailJob());
      await waitFor('the retry', () => seen.length >= 2);
      await sleep(400);
      await consumer.stop();
      assert.equal(seen.length, 2, 'no delivery after the successful one');
      assert.equal((await queue.listDeadLetters()).length, 0);
    });

    test('dead-letters a job at once when the handler reports a permanent failure', async () => {
      const queue = await open({ maxAttempts: 5, backoffMs: [50] });
      let calls = 0;
      const consumer = await queue.consume(async () => {
        calls++;
        throw new PermanentMailError('550 no such mailbox');
      });
      await queue.enqueue(mailJob());
      await waitFor('the dead letter', async () => (await queue.listDeadLetters()).length >= 1);
      await sleep(300);
      await consumer.stop();
      assert.equal(calls, 1);
      const [dead] = await queue.listDeadLetters();
      assert.equal(dead?.attempts, 1);
      assert.equal(dead?.error, '550 no such mailbox');
    });

    test('keeps jobs enqueued while nobody consumes and delivers them when a consumer starts', async () => {
      const queue = await open();
      const jobs = [mailJob(), mailJob({ template: 'reset_password' }), mailJob({ template: 'magic_link' })];
      for (const job of jobs) await queue.enqueue(job);
      await sleep(200);
      assert.equal(await queue.depth(), 3, 'the depth counts the jobs waiting');
      const { seen, handler } = recorder();
      const consumer = await queue.consume(handler);
      await waitFor('three deliveries', () => seen.length >= 3);
      await sleep(300);
      await consumer.stop();
      assert.deepEqual(seen.map((s) => s.job.id).sort(), jobs.map((j) => j.id).sort());
      await waitFor('an empty queue', async () => (await queue.depth()) === 0);
    });

    test('a consumer stopped mid-way and started again delivers the rest, none lost and none twice', async () => {
      const queue = await open();
      const jobs = Array.from({ length: 10 }, () => mailJob());
      for (const job of jobs) await queue.enqueue(job);
      const delivered: string[] = [];
      const slow = async (job: MailJob) => {
        await sleep(20);
        delivered.push(job.id);
      };
      const first = await queue.consume(slow);
      await waitFor('three deliveries', () => delivered.length >= 3);
      await first.stop();
      const atStop = delivered.length;
      assert.ok(atStop < jobs.length, 'stopped before the end');
      await sleep(200);
      assert.equal(delivered.length, atStop, 'nothing is delivered once stop() resolved');

      const second = await queue.consume(slow);
      await waitFor('every delivery', () => delivered.length >= jobs.length);
      await sleep(300);
      await second.stop();
      assert.equal(delivered.length, jobs.length, 'none twice');
      assert.deepEqual([...delivered].sort(), jobs.map((j) => j.id).sort(), 'none lost');
    });

    test('answers ping while it can take jobs', async () => {
      const queue = await open();
      await queue.ping();
    });

    test('rejects enqueue and ping with service_unavailable, promptly, when it cannot store', async () => {
      const { queue, cleanup } = await harness.openUnavailable();
      try {
        const started = Date.now();
        await assert.rejects(
          queue.enqueue(mailJob()),
          (err) => err instanceof AppError && err.code === 'service_unavailable' && err.retryAfter !== undefined,
        );
        await assert.rejects(queue.ping(), (err) => err instanceof AppError && err.code === 'service_unavailable');
        assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
      } finally {
        await cleanup();
      }
    });
  });
}
