import type { Bus, Logger } from '@gatehouse/kit';

export interface MailerDeps {
  bus: Bus;
  log: Logger;
}

/**
 * The mailer service: templates and delivery. This release consumes nothing
 * but notes the sign-ups whose verification email will be sent once the mail
 * queue exists (its own issue), and serves its health check.
 */
export async function startMailer(deps: MailerDeps): Promise<{ close(): Promise<void> }> {
  const { bus, log } = deps;
  bus.serve('mailer.health.check', async () => ({ ok: true }));
  bus.subscribe(
    'events.user.created',
    (event) => {
      if (event.email)
        log.info({ userId: event.user_id }, 'verification email not sent: mail delivery is not built yet');
    },
    { queue: 'mailer' },
  );
  return { close: async () => {} };
}
