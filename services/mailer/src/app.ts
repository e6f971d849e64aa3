import { type Bus, type Config, type Logger, type MailQueue, metrics } from '@gatehouse/kit';
import { createRenderer } from './render/render.ts';
import { createSender } from './send/send.ts';

export interface MailerDeps {
  bus: Bus;
  /** The mail queue to consume: JetStream in the stack, in-process in embedded mode. */
  queue: MailQueue;
  config: Pick<Config, 'smtpUrl' | 'mailFrom' | 'mailTemplatesDir' | 'publicUrl'>;
  log: Logger;
  /** Embedded mode: `DATA_DIR/outbox`, where mail goes as .eml files when there is no SMTP_URL. */
  outboxDir?: string;
}

/**
 * The mailer: consumes the mail queue, renders each job's template and sends
 * it (SMTP, or the log and outbox without SMTP_URL). A failed send throws, so
 * the queue retries it with backoff; a recipient refused for good goes to the
 * dead letters at once. Serves `mailer.health.check`, which fails while the
 * queue does not answer its ping. `close()` stops consuming once the job in
 * hand is done; closing the queue and the bus is the caller's.
 */
export async function startMailer(deps: MailerDeps): Promise<{ close(): Promise<void> }> {
  const { bus, queue, config, log } = deps;
  const renderer = await createRenderer({
    overrideDir: config.mailTemplatesDir,
    defaults: { app_name: 'Gatehouse', public_url: config.publicUrl },
  });
  const sender = await createSender({
    smtpUrl: config.smtpUrl,
    from: config.mailFrom,
    messageIdDomain: new URL(config.publicUrl).hostname,
    outboxDir: deps.outboxDir,
  });

  bus.serve('mailer.health.check', async () => {
    await queue.ping();
    return { ok: true };
  });

  const consumer = await queue.consume(async (job, delivery) => {
    try {
      const mail = await renderer.render(job);
      await sender.send({ id: job.id, to: job.to, ...mail }, delivery.log);
    } catch (err) {
      // The queue retries it, or dead-letters it after the last attempt.
      metrics.mailSent.inc({ template: job.template, outcome: delivery.last ? 'failed' : 'retried' });
      throw err;
    }
    metrics.mailSent.inc({ template: job.template, outcome: 'sent' });
    delivery.log.info('mail sent');
  });
  // While JetStream does not answer, the last depth it told (the logs say why).
  let depth = 0;
  metrics.gauge('gatehouse_mail_queue_depth', 'Mail jobs not yet sent (waiting, backing off, or in hand)', async () => {
    depth = await queue.depth().catch(() => depth);
    return depth;
  });
  log.info({ smtp: Boolean(config.smtpUrl), templatesDir: config.mailTemplatesDir ?? null }, 'mailer consuming');

  return {
    close: async () => {
      await consumer.stop();
      sender.close();
    },
  };
}
