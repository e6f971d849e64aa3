import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import type { MailJob } from '@gatehouse/contracts';
import { Bus, InProcessTransport, JetStreamMailQueue, loadConfig, type MailQueueNames } from '@gatehouse/kit';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { SmtpPeer } from '../test/smtp-peer.ts';
import { startMailer } from './app.ts';

// The stack's path: jobs in a real JetStream stream (own names, so a running
// stack's MAIL stream is never touched), mail to a real SMTP server.
const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = pino({ level: 'silent' });
const tag = randomBytes(4).toString('hex');
const names: MailQueueNames = {
  stream: `MAILERTEST_${tag}`,
  subjectPrefix: `mailertest.${tag}.jobs`,
  consumer: 'mailer',
  deadLetterStream: `MAILERTEST_${tag}_DEAD`,
  deadLetterSubject: `mailertest.${tag}.dead`,
};

const job = (): MailJob => ({
  v: 1,
  id: randomUUID(),
  project_id: '0190f5a0-0000-7000-8000-000000000001',
  template: 'reset_password',
  to: 'ada@example.com',
  vars: { app_name: 'Acme', link: 'https://auth.example.com/reset?token=x', expires_in: '1 hour' },
  created_at: new Date().toISOString(),
});

async function waitFor(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const open = () => JetStreamMailQueue.open({ servers: NATS_URL, log: quiet, names, ackWaitMs: 2_000 });

async function startService(smtpUrl: string) {
  const queue = await open();
  const bus = new Bus(new InProcessTransport(), quiet, { timeoutMs: 1000 });
  const config = loadConfig({ PUBLIC_URL: 'https://auth.example.com', SMTP_URL: smtpUrl });
  const service = await startMailer({ bus, queue, config, log: quiet });
  return {
    stop: async () => {
      await service.close();
      await queue.close();
      await bus.transport.close();
    },
  };
}

let smtp: SmtpPeer;
after(async () => {
  await smtp?.stop();
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  for (const stream of [names.stream, names.deadLetterStream]) await jsm.streams.delete(stream).catch(() => {});
  await nc.drain();
});

test('a mailer stopped while jobs are queued delivers every one after it starts again, none twice', async () => {
  smtp = await SmtpPeer.start();
  smtp.delayMs = 50; // a relay slow enough for the stop to land mid-way
  const producer = await open(); // as identity enqueues: its own connection
  const jobs = Array.from({ length: 12 }, job);
  const first = await startService(smtp.url);
  for (const j of jobs) await producer.enqueue(j);
  await waitFor('a few mails', () => smtp.received.length >= 3);
  await first.stop();
  const atStop = smtp.received.length;
  assert.ok(atStop < jobs.length, `stopped mid-way (${atStop} sent)`);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(smtp.received.length, atStop, 'nothing is sent while the mailer is down');

  const second = await startService(smtp.url);
  await waitFor('every mail', () => smtp.received.length >= jobs.length);
  await new Promise((r) => setTimeout(r, 500));
  await second.stop();
  await producer.close();

  const ids = smtp.received.map((m) => m.messageId);
  assert.equal(ids.length, jobs.length, 'none twice');
  assert.deepEqual([...ids].sort(), jobs.map((j) => `<${j.id}@auth.example.com>`).sort(), 'none lost');
});
