import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { sleep, waitFor } from '../mail-queue/mail-queue.contract.ts';
import { anEvent, auditQueueContract } from './audit-queue.contract.ts';
import { InProcessAuditQueue } from './in-process.ts';
import type { AuditQueue } from './queue.ts';

const quiet = pino({ level: 'silent' });

auditQueueContract('in-process', {
  open: async (options) => new InProcessAuditQueue({ log: quiet, ...options }),
  again: async (queue) => queue,
  destroy: (queue) => queue.close(),
  settled: async () => {},
  held: async (queue: AuditQueue) => (queue as InProcessAuditQueue).pending,
});

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('in-process audit queue', () => {
  test('close() gives a batch waiting out its retry delay its last chance through the running consumer', async () => {
    const before = timers();
    const queue = new InProcessAuditQueue({ log: quiet, batchWaitMs: 0, retryDelaysMs: [60_000] });
    const written: string[] = [];
    let calls = 0;
    await queue.consume(async (events) => {
      calls++;
      if (calls === 1) throw new Error('down for a minute');
      written.push(...events.map((e) => e.id));
    });
    const event = anEvent();
    queue.record(event);
    await waitFor('the failed first attempt', () => calls === 1);
    assert.equal(queue.pending, 1, 'kept for the retry a minute later');
    await queue.close();
    assert.deepEqual(written, [event.id], 'written at close, not a minute later');
    assert.equal(queue.pending, 0);
    assert.equal(timers(), before, 'no timer left');
  });

  test('close() writes every ready event through the running consumer, in batches', async () => {
    const queue = new InProcessAuditQueue({ log: quiet, batchSize: 3, batchWaitMs: 60_000 });
    const written: string[][] = [];
    await queue.consume(async (events) => {
      written.push(events.map((e) => e.id));
    });
    const events = Array.from({ length: 7 }, () => anEvent());
    for (const e of events) queue.record(e);
    await queue.close();
    assert.deepEqual(written.flat().sort(), events.map((e) => e.id).sort());
    assert.ok(written.every((b) => b.length <= 3));
    assert.equal(queue.pending, 0);
  });

  test('a failed batch waiting out its delay is retried once a consumer runs again, and close() clears every timer', async () => {
    const before = timers();
    const queue = new InProcessAuditQueue({ log: quiet, batchWaitMs: 0, retryDelaysMs: [100] });
    const attempts: number[] = [];
    const first = await queue.consume(async (_events, batch) => {
      attempts.push(batch.attempt);
      throw new Error('down');
    });
    queue.record(anEvent());
    await waitFor('the first attempt', () => attempts.length === 1);
    await first.stop();
    await sleep(200);
    assert.deepEqual(attempts, [1], 'nothing is delivered without a consumer');
    assert.equal(queue.pending, 1);
    assert.equal(timers(), before, 'no timer is armed while nobody consumes');
    const second = await queue.consume(async (_events, batch) => {
      attempts.push(batch.attempt);
    });
    await waitFor('the retry', () => attempts.length === 2);
    await second.stop();
    assert.deepEqual(attempts, [1, 2]);
    assert.equal(queue.pending, 0);
    await queue.close();
    assert.equal(timers(), before);
  });

  test('an event recorded after close() is dropped, not thrown', async () => {
    const queue = new InProcessAuditQueue({ log: quiet });
    await queue.close();
    assert.doesNotThrow(() => queue.record(anEvent()));
    assert.equal(queue.pending, 0);
  });
});
