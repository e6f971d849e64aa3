import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A message as the SMTP server received it. */
export interface Mail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * A real SMTP server on 127.0.0.1 (the npm `smtp-server`), keeping every
 * message it accepts, parsed. Gatehouse delivers to it through SMTP_URL.
 */
export interface Mailbox {
  url: string;
  mails: Mail[];
  /** Every message to `to`, in arrival order. */
  to(to: string): Mail[];
  /** Waits for the `n`-th message (1-based) to `to` that passes `filter`; fails after `ms`. */
  waitFor(to: string, n?: number, filter?: (mail: Mail) => boolean, ms?: number): Promise<Mail>;
  /** When set, the next deliveries are refused with this SMTP reply code. */
  refuseWith: number | undefined;
  close(): Promise<void>;
}

export async function startMailbox(): Promise<Mailbox> {
  const mails: Mail[] = [];
  const box: Mailbox = {
    url: '',
    mails,
    refuseWith: undefined,
    to: (to) => mails.filter((m) => m.to === to.toLowerCase()),
    async waitFor(to, n = 1, filter = () => true, ms = 20_000) {
      const end = Date.now() + ms;
      for (;;) {
        const got = box.to(to).filter(filter)[n - 1];
        if (got) return got;
        if (Date.now() > end) throw new Error(`no mail #${n} to ${to} within ${ms} ms (have ${box.to(to).length})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      if (box.refuseWith !== undefined) {
        stream.resume();
        stream.on('end', () =>
          callback(Object.assign(new Error('refused by the test'), { responseCode: box.refuseWith })),
        );
        return;
      }
      simpleParser(stream)
        .then((parsed) => {
          for (const rcpt of session.envelope.rcptTo) {
            mails.push({
              to: rcpt.address.toLowerCase(),
              from: parsed.from?.text ?? '',
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
            });
          }
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.server.address() as AddressInfo;
  box.url = `smtp://127.0.0.1:${port}`;
  return box;
}

/** The one link with a `token` in a message's text part. */
export function linkIn(text: string): URL {
  const match = /https?:\/\/[^\s<>"]+[?&]token=[^\s<>"]+/.exec(text);
  if (!match) throw new Error(`no link with a token in:\n${text}`);
  return new URL(match[0]);
}

/** Selects the messages whose link is of this type (`verify_email`, `reset_password`, `magic_link`). */
export const withLink = (type: string) => (mail: Mail) => mail.text.includes(`type=${type}`);
