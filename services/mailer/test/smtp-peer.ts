import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** What the peer answers to a message: accept it, or refuse it with an SMTP code. */
export type Verdict = { accept: true } | { accept: false; code: number; message: string };

/**
 * A real SMTP server for the tests (npm `smtp-server`) on 127.0.0.1 and a free
 * port, keeping every message it accepted, parsed by mailparser. `decide`
 * chooses the answer to each DATA or RCPT TO; by default it accepts all.
 */
export class SmtpPeer {
  readonly received: ParsedMail[] = [];
  /** Every message offered, accepted or not. */
  offered = 0;
  decideData: (n: number) => Verdict = () => ({ accept: true });
  decideRcpt: (address: string) => Verdict = () => ({ accept: true });
  /** Delay before answering DATA (a slow relay). */
  delayMs = 0;
  readonly #server: SMTPServer;

  private constructor() {
    this.#server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onRcptTo: (address, _session, callback) => {
        const verdict = this.decideRcpt(address.address);
        callback(verdict.accept ? null : refusal(verdict));
      },
      onData: (stream, _session, callback) => {
        const n = ++this.offered;
        simpleParser(stream).then(
          async (mail) => {
            if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
            const verdict = this.decideData(n);
            if (verdict.accept) this.received.push(mail);
            callback(verdict.accept ? null : refusal(verdict));
          },
          (err) => callback(err),
        );
      },
    });
  }

  static async start(): Promise<SmtpPeer> {
    const peer = new SmtpPeer();
    await new Promise<void>((resolve, reject) => {
      peer.#server.once('error', reject);
      peer.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return peer;
  }

  get url(): string {
    const { port } = this.#server.server.address() as AddressInfo;
    return `smtp://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function refusal(verdict: { code: number; message: string }): Error {
  return Object.assign(new Error(verdict.message), { responseCode: verdict.code });
}
