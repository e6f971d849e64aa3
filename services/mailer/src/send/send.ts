import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, PermanentMailError } from '@gatehouse/kit';
import nodemailer from 'nodemailer';
import { recipientProblem } from './recipient.ts';

/** A rendered mail ready to go. */
export interface OutgoingMail {
  /** The job id: it becomes the Message-ID, so a retried send is recognisable as the same mail. */
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Sender {
  /**
   * Sends `mail`. Throws on failure so the queue retries; throws
   * PermanentMailError when the SMTP server refused the recipient or the
   * message for good (a 5xx answer to RCPT TO or DATA), and, sending
   * nothing, when `to` is not exactly one plain address (see recipientProblem).
   */
  send(mail: OutgoingMail, log: Logger): Promise<void>;
  close(): void;
}

export interface SenderOptions {
  /** `smtp://user:pass@host:587` or `smtps://…`; without it mail goes to the log (and `outboxDir`). */
  smtpUrl: string | undefined;
  /** The From header, e.g. `Gatehouse <no-reply@example.com>`. */
  from: string;
  /** Right-hand side of the Message-ID (the public URL's host name). */
  messageIdDomain: string;
  /** Where to write each mail as an .eml file when there is no SMTP server (embedded mode: DATA_DIR/outbox). */
  outboxDir?: string | undefined;
}

/**
 * Bounds on every SMTP exchange: nodemailer's defaults (2 min to connect, 10
 * min of silence) would hold a job far past the queue's ack wait.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

/**
 * A 5xx answer to the envelope or the message is the server's final word on
 * this mail (RFC 5321 §4.2.1): retrying sends the same thing to the same
 * refusal. 552 is excepted: on RCPT it means "mailbox full, try later" (RFC
 * 5321 §4.5.3.1.10). A 5xx on connect or AUTH is a configuration problem of
 * ours, not of the mail: it is retried like any outage.
 */
function isPermanent(err: unknown): boolean {
  const e = err as { code?: string; responseCode?: number };
  return (
    (e.code === 'EENVELOPE' || e.code === 'EMESSAGE') &&
    typeof e.responseCode === 'number' &&
    e.responseCode >= 500 &&
    e.responseCode < 600 &&
    e.responseCode !== 552
  );
}

/**
 * SMTP when `smtpUrl` is set; otherwise, with `outboxDir` (embedded mode), .eml
 * files there (mode 600), and without it a warning. The log names the recipient
 * and subject only. Whichever the way, a mail whose `to` is not exactly one
 * plain address goes nowhere: it is refused for good (PermanentMailError, so
 * the queue dead-letters it at once), with a warning that does not name it.
 */
export async function createSender(options: SenderOptions): Promise<Sender> {
  const sender = await createTransportSender(options);
  return {
    async send(mail, log) {
      const problem = recipientProblem(mail.to);
      if (problem) {
        // Security: nodemailer would mail every address it reads in the field, or a rewritten one.
        // The address itself stays out of the log: it is attacker-chosen text.
        log.warn({ reason: problem }, 'mail refused: the recipient is not exactly one address');
        throw new PermanentMailError(`undeliverable: ${problem}`);
      }
      await sender.send(mail, log);
    },
    close: () => sender.close(),
  };
}

async function createTransportSender(options: SenderOptions): Promise<Sender> {
  const envelope = (mail: OutgoingMail) => ({
    from: options.from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: `<${mail.id}@${options.messageIdDomain}>`,
    // RFC 3834: an automatic message; vacation responders should not answer it.
    headers: { 'Auto-Submitted': 'auto-generated' },
  });

  if (options.smtpUrl) {
    const transport = nodemailer.createTransport({ url: options.smtpUrl, ...SMTP_TIMEOUTS });
    return {
      async send(mail, log) {
        try {
          const info = await transport.sendMail(envelope(mail));
          log.debug({ response: info.response }, 'smtp accepted the mail');
        } catch (err) {
          if (isPermanent(err)) throw new PermanentMailError(errorText(err), { cause: err });
          throw err;
        }
      },
      close: () => transport.close(),
    };
  }

  const outboxDir = options.outboxDir;
  if (outboxDir) await mkdir(outboxDir, { recursive: true });
  // nodemailer's stream transport builds the raw RFC 5322 message without sending it.
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    async send(mail, log) {
      // Never the body: it holds live one-time tokens (reset, magic link), and logs travel far.
      const fields = { to: mail.to, subject: mail.subject };
      if (!outboxDir) {
        log.warn({ mail: fields }, 'no SMTP_URL: mail not delivered (set SMTP_URL to send it)');
        return;
      }
      const info = await transport.sendMail(envelope(mail));
      const file = join(outboxDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.id}.eml`);
      // Written under a temporary name, then renamed: a reader never sees half a message.
      await writeFile(`${file}.tmp`, info.message as Buffer, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
      log.info({ mail: fields, file }, 'no SMTP_URL: mail written to the outbox');
    },
    close: () => transport.close(),
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
