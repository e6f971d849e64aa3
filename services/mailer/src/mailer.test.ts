import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, afterEach, describe, test } from 'node:test';
import type { MailJob } from '@gatehouse/contracts';
import { AppError, Bus, InProcessMailQueue, InProcessTransport, loadConfig } from '@gatehouse/kit';
import type { ParsedMail } from 'mailparser';
import { type Logger, pino } from 'pino';
import { SmtpPeer } from '../test/smtp-peer.ts';
import { startMailer } from './app.ts';

const quiet = pino({ level: 'silent' });
const LINK = 'https://auth.example.com/verify?token=abc123&project=p1';

/** A logger whose lines the test reads. */
function capturedLog(level: string): { lines: string[]; log: Logger } {
  const lines: string[] = [];
  const log = pino(
    { level },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  return { lines, log };
}

const job = (overrides: Partial<MailJob> = {}): MailJob => ({
  v: 1,
  id: randomUUID(),
  project_id: '0190f5a0-0000-7000-8000-000000000001',
  template: 'verify_email',
  to: 'ada@example.com',
  vars: { app_name: 'Acme', email: 'ada@example.com', name: 'Ada', link: LINK, expires_in: '24 hours' },
  created_at: new Date().toISOString(),
  ...overrides,
});

/** The HTML part as parsed (mailparser gives `false` when there is none). */
const htmlOf = (mail: ParsedMail | undefined): string => (typeof mail?.html === 'string' ? mail.html : '');

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A mailer over an in-process queue and bus; everything it starts is closed after the test. */
const running: (() => Promise<void>)[] = [];
async function mailer(env: Record<string, string>, options: { outboxDir?: string; log?: Logger } = {}) {
  const log = options.log ?? quiet;
  const queue = new InProcessMailQueue({ log, maxAttempts: 3, backoffMs: [100] });
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 1000 });
  const config = loadConfig({ PUBLIC_URL: 'https://auth.example.com', MAIL_FROM: 'Acme <no-reply@acme.test>', ...env });
  const service = await startMailer({ bus, queue, config, log, ...options });
  running.push(async () => {
    await service.close();
    await queue.close();
    await bus.transport.close();
  });
  return { queue, bus, service };
}

describe('mailer', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of running.splice(0).reverse()) await close();
  });
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });
  const peer = async () => {
    const p = await SmtpPeer.start();
    cleanups.push(() => p.stop());
    return p;
  };
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-mailer-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  test('sends a queued job over SMTP with its subject, a text and an HTML part, the link intact in both', async () => {
    const smtp = await peer();
    const { queue } = await mailer({ SMTP_URL: smtp.url });
    const sent = job();
    await queue.enqueue(sent);
    await waitFor('the mail', () => smtp.received.length === 1);
    const [mail] = smtp.received;
    assert.equal(mail?.subject, 'Confirm your email address for Acme');
    assert.equal(mail?.from?.text, '"Acme" <no-reply@acme.test>');
    assert.equal(mail?.messageId, `<${sent.id}@auth.example.com>`);
    assert.equal(mail?.headers.get('auto-submitted'), 'auto-generated');
    assert.ok(mail?.text?.includes(LINK), 'the link, verbatim, in the text part');
    assert.ok(htmlOf(mail).includes(`href="${LINK.replace('&', '&amp;')}"`), 'the button');
    assert.ok(htmlOf(mail).includes(`>${LINK.replace('&', '&amp;')}</a>`), 'the link as text in HTML');
  });

  test('escapes a variable in the HTML part but not in the text part', async () => {
    const smtp = await peer();
    const { queue } = await mailer({ SMTP_URL: smtp.url });
    await queue.enqueue(job({ vars: { app_name: 'Acme', name: '<script>alert(1)</script>', link: LINK } }));
    await waitFor('the mail', () => smtp.received.length === 1);
    const [mail] = smtp.received;
    assert.ok(mail?.text?.includes('Hi <script>alert(1)</script>,'));
    assert.ok(htmlOf(mail).includes('Hi &lt;script&gt;alert(1)&lt;/script&gt;,'));
    assert.ok(!htmlOf(mail).includes('<script>'));
  });

  test('uses a template from MAIL_TEMPLATES_DIR over the built-in one', async () => {
    const smtp = await peer();
    const dir = tempDir();
    mkdirSync(join(dir, 'verify_email'));
    writeFileSync(join(dir, 'verify_email', 'subject.txt'), 'Welcome aboard {{name}}');
    writeFileSync(join(dir, 'verify_email', 'body.html'), '<p>Hello {{name}}, <a href="{{link}}">verify</a></p>');
    const { queue } = await mailer({ SMTP_URL: smtp.url, MAIL_TEMPLATES_DIR: dir });
    await queue.enqueue(job());
    await waitFor('the mail', () => smtp.received.length === 1);
    const [mail] = smtp.received;
    assert.equal(mail?.subject, 'Welcome aboard Ada');
    assert.ok(
      htmlOf(mail).includes(
        '<p>Hello Ada, <a href="https://auth.example.com/verify?token=abc123&amp;project=p1">verify</a></p>',
      ),
    );
    assert.match(mail?.text ?? '', /Please confirm/, 'the text part is still the built-in one');
  });

  test('delivers once, after a retry, when the SMTP server refuses then accepts', async () => {
    const smtp = await peer();
    smtp.decideData = (n) => (n === 1 ? { accept: false, code: 451, message: 'Try again later' } : { accept: true });
    const { queue } = await mailer({ SMTP_URL: smtp.url });
    await queue.enqueue(job());
    await waitFor('the mail', () => smtp.received.length === 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(smtp.offered, 2, 'refused once, accepted on the retry');
    assert.equal(smtp.received.length, 1, 'delivered once');
    assert.equal(queue.deadLetters.length, 0);
  });

  test('dead-letters at once a recipient the SMTP server refuses for good', async () => {
    const smtp = await peer();
    let tries = 0;
    smtp.decideRcpt = () => {
      tries++;
      return { accept: false, code: 550, message: 'No such user' };
    };
    const { queue } = await mailer({ SMTP_URL: smtp.url });
    await queue.enqueue(job({ to: 'nobody@example.com' }));
    await waitFor('the dead letter', () => queue.deadLetters.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(tries, 1, 'no retry');
    assert.match(queue.deadLetters[0]?.error ?? '', /550/);
  });

  test('refuses, sending nothing and at once, a recipient that is not exactly one plain address', async () => {
    const smtp = await peer();
    const rcpts: string[] = [];
    smtp.decideRcpt = (address) => {
      rcpts.push(address);
      return { accept: true };
    };
    const { lines, log } = capturedLog('warn');
    const { queue } = await mailer({ SMTP_URL: smtp.url }, { log });
    const refused = [
      '"look"@example.com', // nodemailer would send it to look@example.com
      'zz,qq@example.com', // ...and this to qq@example.com
      'look@example.com, other@example.com',
      'look@example.com;other@example.com',
      'Look <look@example.com>',
      '<look@example.com>',
      'look@example.com (Look)',
      'friends: look@example.com, other@example.com;',
      'look@example.com ',
      'no-at-sign',
    ];
    for (const to of refused) await queue.enqueue(job({ to }));
    await waitFor('the dead letters', () => queue.deadLetters.length === refused.length);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(smtp.offered, 0, 'no message offered');
    assert.deepEqual(rcpts, [], 'no recipient named to the server');
    assert.deepEqual(
      queue.deadLetters.map((d) => [d.job.to, d.attempts]),
      refused.map((to) => [to, 1]),
      'each refused for good, without retry',
    );
    assert.ok(queue.deadLetters.every((d) => /^undeliverable: /.test(d.error) && !d.error.includes('example.com')));
    const warnings = lines.map((l) => JSON.parse(l)).filter((e) => e.msg?.includes('not exactly one address'));
    assert.equal(warnings.length, refused.length);
    for (const entry of warnings) assert.equal(entry.level, 40);
    // The attacker-chosen address is not logged, nor the body.
    assert.ok(!lines.some((l) => l.includes('example.com') || l.includes('token=')), lines.join(''));
  });

  test('still delivers one plain address, with a Unicode local part and domain', async () => {
    const smtp = await peer();
    const rcpts: string[] = [];
    smtp.decideRcpt = (address) => {
      rcpts.push(address);
      return { accept: true };
    };
    const { queue } = await mailer({ SMTP_URL: smtp.url });
    await queue.enqueue(job({ to: 'first.last+tag@mail.example.com' }));
    await queue.enqueue(job({ to: 'look@b\u00fccher.example' }));
    await queue.enqueue(job({ to: '\u00fcn\u00efcode@b\u00fccher.example' }));
    await waitFor('the mails', () => smtp.received.length === 3);
    assert.deepEqual(rcpts, [
      'first.last+tag@mail.example.com',
      // As stored: the test server offers SMTPUTF8, so nodemailer keeps the Unicode domain.
      'look@b\u00fccher.example',
      '\u00fcn\u00efcode@b\u00fccher.example',
    ]);
    assert.equal(queue.deadLetters.length, 0);
  });

  test('without SMTP_URL, a recipient that is not one address is not written to the outbox either', async () => {
    const outbox = join(tempDir(), 'outbox');
    const { queue } = await mailer({}, { outboxDir: outbox });
    await queue.enqueue(job({ to: 'zz,qq@example.com' }));
    await waitFor('the dead letter', () => queue.deadLetters.length === 1);
    assert.deepEqual(readdirSync(outbox), []);
  });

  test('retries, then dead-letters, while the SMTP server is unreachable', async () => {
    const smtp = await peer();
    const url = smtp.url;
    await smtp.stop();
    const { queue } = await mailer({ SMTP_URL: url });
    await queue.enqueue(job());
    await waitFor('the dead letter', () => queue.deadLetters.length === 1);
    assert.equal(queue.deadLetters[0]?.attempts, 3);
  });

  test('without SMTP_URL, writes the mail as an .eml file in the outbox, and only its subject to the log', async () => {
    const outbox = join(tempDir(), 'outbox');
    const { lines, log } = capturedLog('info');
    const { queue } = await mailer({}, { outboxDir: outbox, log });
    const sent = job();
    await queue.enqueue(sent);
    await waitFor('the .eml file', () => readdirSync(outbox).some((f) => f.endsWith('.eml')));
    const files = readdirSync(outbox);
    assert.equal(files.length, 1);
    assert.ok(files[0]?.endsWith(`${sent.id}.eml`));
    const eml = readFileSync(join(outbox, files[0] as string), 'utf8');
    assert.match(eml, /^Subject: Confirm your email address for Acme\r$/m);
    assert.match(eml, /^To: ada@example\.com\r$/m);
    assert.match(eml, /multipart\/alternative/);
    await waitFor('the log line', () => lines.some((l) => l.includes('outbox')));
    const entry = JSON.parse(lines.find((l) => l.includes('outbox')) as string);
    assert.equal(entry.mail.to, 'ada@example.com');
    assert.equal(entry.mail.subject, 'Confirm your email address for Acme');
    assert.ok(eml.replace(/=\r\n/g, '').includes('abc123'), 'the outbox has the link (quoted-printable)');
    // The link carries a live one-time token: no log line may.
    assert.ok(!lines.some((l) => l.includes(LINK) || l.includes('token=')), lines.join(''));
  });

  test('without SMTP_URL and without an outbox (stack mode), the mail is not delivered and its body is not logged', async () => {
    const { lines, log } = capturedLog('debug');
    const { queue } = await mailer({}, { log });
    await queue.enqueue(job());
    await waitFor('the warning', () => lines.some((l) => l.includes('not delivered')));
    const entry = JSON.parse(lines.find((l) => l.includes('not delivered')) as string);
    assert.equal(entry.level, 40);
    assert.equal(entry.mail.to, 'ada@example.com');
    assert.ok(!lines.some((l) => l.includes(LINK) || l.includes('token=')), lines.join(''));
  });

  test('answers its health check while the queue answers its ping, and fails it after', async () => {
    const { queue, bus } = await mailer({});
    assert.deepEqual(await bus.request('mailer.health.check', {}), { ok: true });
    await queue.close();
    await assert.rejects(
      bus.request('mailer.health.check', {}),
      (err) => err instanceof AppError && err.code === 'service_unavailable',
    );
  });
});
