import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { AuditEvent } from '@gatehouse/contracts';
import { sleep, waitFor } from '../mail-queue/mail-queue.contract.ts';
import { auditEvent } from './event.ts';
import type { AuditBatch, AuditBatchOptions, AuditQueue } from './queue.ts';

export interface AuditQueueHarness {
  /** A fresh, empty queue of its own (own stream names) with the given batch options. */
  open(options: AuditBatchOptions): Promise<AuditQueue>;
  /** A second handle on the same queue (JetStream: another connection to the same stream), or the queue itself. */
  again(queue: AuditQueue): Promise<AuditQueue>;
  /** Closes `queue` and removes what `open` created (JetStream: the test stream). */
  destroy(queue: AuditQueue): Promise<void>;
  /** Resolves once every event recorded so far is stored (JetStream: its PubAck came back). */
  settled(queue: AuditQueue): Promise<void>;
  /** How many events the queue holds, not yet acked (JetStream: the work-queue stream's messages). */
  held(queue: AuditQueue): Promise<number>;
}

const PROJECT = '0190f5a0-0000-7000-8000-000000000001';

/** A valid event (a failed password sign-in of a new user), unique. */
export function anEvent(): AuditEvent {
  return auditEvent({
    type: 'sign_in.failed',
    project_id: PROJECT,
    user_id: crypto.randomUUID(),
    ip: '203.0.113.7',
    user_agent: 'contract-test',
    data: { method: 'password', reason: 'invalid_credentials' },
  });
}

interface Written {
  events: AuditEvent[];
  batch: AuditBatch;
}

/**
 * The behaviour every audit queue must show, run against each implementation:
 * events handed over in batches (bounded, and never held back waiting for a
 * full one), a batch acked only once its handler resolved, every event of a
 * failed batch kept and handed over again until it is written (once), events
 * kept until a consumer starts, none lost or doubled across a consumer
 * restart, and `record` that never throws.
 */
export function auditQueueContract(name: string, harness: AuditQueueHarness): void {
  describe(`${name} audit queue contract`, () => {
    const opened: AuditQueue[] = [];
    const open = async (options: AuditBatchOptions = {}) => {
      const queue = await harness.open({ batchWaitMs: 50, retryDelaysMs: [100], ...options });
      opened.push(queue);
      return queue;
    };
    after(async () => {
      for (const queue of opened) await harness.destroy(queue);
    });

    const recorder = () => {
      const written: Written[] = [];
      const handler = async (events: AuditEvent[], batch: AuditBatch) => {
        written.push({ events, batch });
      };
      const ids = () => written.flatMap((w) => w.events.map((e) => e.id));
      return { written, handler, ids };
    };

    test('hands the recorded events over, each once, as they were recorded', async () => {
      const queue = await open();
      const { written, handler, ids } = recorder();
      const consumer = await queue.consume(handler);
      const events = [anEvent(), anEvent(), anEvent()];
      for (const event of events) queue.record(event);
      await waitFor('three events', () => ids().length >= 3);
      await sleep(300);
      await consumer.stop();
      assert.equal(ids().length, 3, 'each once');
      const byId = new Map(written.flatMap((w) => w.events).map((e) => [e.id, e]));
      for (const event of events) assert.deepEqual(byId.get(event.id), event);
      assert.ok(written.every((w) => w.batch.attempt === 1));
    });

    test('a batch holds at most batchSize events, and a partial one is handed over without waiting for more', async () => {
      const queue = await open({ batchSize: 4 });
      for (let i = 0; i < 10; i++) queue.record(anEvent());
      await harness.settled(queue);
      const { written, handler, ids } = recorder();
      const consumer = await queue.consume(handler);
      await waitFor('ten events', () => ids().length >= 10);
      assert.ok(
        written.every((w) => w.events.length <= 4),
        `batches of ${written.map((w) => w.events.length)}`,
      );
      assert.ok(written.length >= 3, 'ten events need three batches of four at least');
      const lone = anEvent();
      queue.record(lone);
      await waitFor('the lone event, in a batch of its own', () => ids().includes(lone.id));
      await consumer.stop();
      assert.deepEqual(
        written.at(-1)?.events.map((e) => e.id),
        [lone.id],
      );
    });

    test('a batch is acked only once its handler has resolved', async () => {
      const queue = await open();
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let inHand = 0;
      const consumer = await queue.consume(async (events) => {
        inHand += events.length;
        await gate;
      });
      for (let i = 0; i < 3; i++) queue.record(anEvent());
      await harness.settled(queue);
      await waitFor('the handler to hold the three events', () => inHand >= 3);
      assert.equal(await harness.held(queue), 3, 'still held while the handler writes');
      release();
      await waitFor('the acks', async () => (await harness.held(queue)) === 0);
      await consumer.stop();
    });

    test('writer down: a failing batch keeps its events, which are written once when it comes back', async () => {
      const queue = await open({ retryDelaysMs: [100, 200] });
      const attempts: number[] = [];
      const written = new Map<string, number>();
      let down = true;
      const consumer = await queue.consume(async (events, batch) => {
        attempts.push(batch.attempt);
        if (down) throw new Error('the database is down');
        for (const e of events) written.set(e.id, (written.get(e.id) ?? 0) + 1);
      });
      const events = [anEvent(), anEvent(), anEvent(), anEvent()];
      for (const event of events) queue.record(event);
      await harness.settled(queue);
      await waitFor('three failed attempts', () => attempts.length >= 3);
      assert.equal(written.size, 0);
      assert.equal(await harness.held(queue), 4, 'every event is kept while the writer is down');
      assert.ok(
        attempts.some((a) => a > 1),
        'the batch came back',
      );
      down = false;
      await waitFor('every event written', () => written.size === 4);
      await waitFor('the acks', async () => (await harness.held(queue)) === 0);
      await sleep(300);
      await consumer.stop();
      assert.deepEqual([...written.keys()].sort(), events.map((e) => e.id).sort());
      assert.ok(
        [...written.values()].every((n) => n === 1),
        'each written once',
      );
    });

    test('keeps events recorded while nobody consumes and hands them over when a consumer starts', async () => {
      const queue = await open();
      const events = [anEvent(), anEvent(), anEvent()];
      for (const event of events) queue.record(event);
      await harness.settled(queue);
      await sleep(200);
      assert.equal(await harness.held(queue), 3);
      const { handler, ids } = recorder();
      const consumer = await queue.consume(handler);
      await waitFor('three events', () => ids().length >= 3);
      await sleep(200);
      await consumer.stop();
      assert.deepEqual(ids().sort(), events.map((e) => e.id).sort());
    });

    test('a consumer stopped mid-way and started again (on another handle) writes the rest, none lost, none twice', async () => {
      const queue = await open({ batchSize: 2, batchWaitMs: 0 });
      const events = Array.from({ length: 12 }, () => anEvent());
      for (const event of events) queue.record(event);
      await harness.settled(queue);
      const written: string[] = [];
      const slow = async (batch: AuditEvent[]) => {
        await sleep(30);
        written.push(...batch.map((e) => e.id));
      };
      const first = await queue.consume(slow);
      await waitFor('four events', () => written.length >= 4);
      await first.stop();
      const atStop = written.length;
      assert.ok(atStop < events.length, 'stopped before the end');
      await sleep(200);
      assert.equal(written.length, atStop, 'nothing is written once stop() resolved');

      const second = await (await harness.again(queue)).consume(slow);
      await waitFor('every event', () => written.length >= events.length);
      await sleep(300);
      await second.stop();
      assert.equal(written.length, events.length, 'none twice');
      assert.deepEqual([...written].sort(), events.map((e) => e.id).sort(), 'none lost');
    });

    test('record never throws: a malformed event is dropped, the others go through', async () => {
      const queue = await open();
      const { handler, ids } = recorder();
      const consumer = await queue.consume(handler);
      const bad = { ...anEvent(), data: { password: 'hunter2' } } as unknown as AuditEvent;
      assert.doesNotThrow(() => queue.record(bad));
      assert.doesNotThrow(() => queue.record({ nonsense: true } as unknown as AuditEvent));
      const good = anEvent();
      queue.record(good);
      await waitFor('the good event', () => ids().includes(good.id));
      await sleep(200);
      await consumer.stop();
      assert.deepEqual(ids(), [good.id]);
    });
  });
}
