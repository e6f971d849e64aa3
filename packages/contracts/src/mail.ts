import { type Static, Type } from '@sinclair/typebox';
import { Uuid } from './objects.ts';

/**
 * Mail jobs: what a service asks the mailer to send. They travel through a
 * durable queue (JetStream stream `MAIL` in the stack, an in-process queue in
 * embedded mode), never through plain request/reply, so a stopped mailer
 * loses nothing.
 */
export const mailQueue = {
  /** The JetStream stream that holds the jobs. */
  stream: 'MAIL',
  /** Jobs are published on `mail.jobs.<template>`; the stream takes `mail.jobs.>`. */
  subjectPrefix: 'mail.jobs',
  /** The mailer's durable consumer. */
  consumer: 'mailer',
  /** Where a job goes after its last failed delivery attempt (kept in stream `MAIL_DEAD`). */
  deadLetterSubject: 'mail.dead',
  deadLetterStream: 'MAIL_DEAD',
} as const;

export const MailTemplateName = Type.Union([
  Type.Literal('verify_email'),
  Type.Literal('reset_password'),
  Type.Literal('magic_link'),
  Type.Literal('invitation'),
  Type.Literal('password_changed'),
  Type.Literal('new_sign_in'),
  Type.Literal('factor_added'),
]);
export type MailTemplateName = Static<typeof MailTemplateName>;

/**
 * The variables every template gets. Values are plain text: the mailer escapes
 * them in the HTML part. Which template uses which:
 * - every template: `app_name`, `email`, `name` (may be empty)
 * - verify_email, reset_password, magic_link, invitation: `link`, `expires_in` ("24 hours")
 * - invitation: `role`
 * - password_changed, new_sign_in, factor_added: `at` (ISO time), `ip`, `user_agent` (may be empty)
 * - factor_added: `factor` ("A passkey", "An authenticator app"), `factor_name` (may be empty)
 */
export const MailVars = Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 4096 }));

export const MailJob = Type.Object({
  v: Type.Literal(1),
  /** Unique per job; also the JetStream message id, so a retried publish is stored once. */
  id: Uuid,
  project_id: Uuid,
  template: MailTemplateName,
  to: Type.String({ minLength: 3, maxLength: 254 }),
  vars: MailVars,
  created_at: Type.String({ format: 'date-time' }),
});
export type MailJob = Static<typeof MailJob>;
