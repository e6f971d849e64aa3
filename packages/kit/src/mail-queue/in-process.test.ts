import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { InProcessMailQueue } from './in-process.ts';
import { mailJob, mailQueueContract, sleep, waitFor } from './mail-queue.contract.ts';

const quiet = pino({ level: 'silent' });

mailQueueContract('in-process', {
  open: async (options) => new InProcessMailQueue({ log: quiet, ...options }),
  destroy: (queue) => queue.close(),
  openUnavailable: async () => {
    // In memory, the only way to be unable to store is to be closed.
    const queue = new InProcessMailQueue({ log: quiet });
    await queue.close();
    return { queue, cleanup: async () => {} };
  },
});

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('in-process mail queue', () => {
  test('close() clears every retry timer, so nothing keeps the process alive or fires later', async () => {
    const before = timers();
    const queue = new InProcessMailQueue({ log: quiet, maxAttempts: 5, backoffMs: [200] });
    let calls = 0;
    await queue.consume(async () => {
      calls++;
      throw new Error('down');
    });
    await queue.enqueue(mailJob());
    await waitFor('the first attempt', () => calls === 1);
    assert.equal(timers(), before + 1, 'a retry is scheduled');
    await queue.close();
    assert.equal(timers(), before, 'no timer left');
    await sleep(300);
    assert.equal(calls, 1, 'the retry never ran');
  });

  test('a retry pending when the last consumer stops is delivered once a consumer starts again', async () => {
    const queue = new InProcessMailQueue({ log: quiet, maxAttempts: 3, backoffMs: [100] });
    const attempts: number[] = [];
    const first = await queue.consume(async (_job, delivery) => {
      attempts.push(delivery.attempt);
      throw new Error('down');
    });
    await queue.enqueue(mailJob());
    await waitFor('the first attempt', () => attempts.length === 1);
    await first.stop();
    await sleep(200);
    assert.deepEqual(attempts, [1], 'no delivery without a consumer');
    const second = await queue.consume(async (_job, delivery) => {
      attempts.push(delivery.attempt);
    });
    await waitFor('the retry', () => attempts.length === 2);
    await second.stop();
    assert.deepEqual(attempts, [1, 2]);
    await queue.close();
  });

  test('keeps dead letters readable in an array', async () => {
    const queue = new InProcessMailQueue({ log: quiet, maxAttempts: 1, backoffMs: [10] });
    await queue.consume(async () => {
      throw new Error('refused');
    });
    const job = mailJob();
    await queue.enqueue(job);
    await waitFor('the dead letter', () => queue.deadLetters.length === 1);
    assert.equal(queue.deadLetters[0]?.job.id, job.id);
    assert.equal(queue.deadLetters[0]?.error, 'refused');
    await queue.close();
  });
});
