import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { MailJob } from '@gatehouse/contracts';
import { createRenderer, TEMPLATE_NAMES } from './render.ts';

const defaults = { app_name: 'Gatehouse', public_url: 'https://auth.example.com' };
const LINK = 'https://auth.example.com/verify?token=abc123&project=p1';

const job = (template: MailJob['template'], vars: Record<string, string> = {}): MailJob => ({
  v: 1,
  id: '0190f5a0-0000-7000-8000-0000000000aa',
  project_id: '0190f5a0-0000-7000-8000-000000000001',
  template,
  to: 'ada@example.com',
  vars,
  created_at: new Date(0).toISOString(),
});

describe('mail templates', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('every template of the contract renders a subject, a text and an HTML part', async () => {
    const renderer = await createRenderer({ defaults });
    assert.equal(TEMPLATE_NAMES.length, 7);
    for (const name of TEMPLATE_NAMES) {
      const vars = {
        app_name: 'Acme',
        name: 'Ada',
        link: LINK,
        expires_in: '24 hours',
        role: 'admin',
        at: '2025-01-01T00:00:00Z',
        ip: '203.0.113.9',
        user_agent: 'Firefox',
      };
      const mail = await renderer.render(job(name, vars));
      assert.match(mail.subject, /Acme/, `${name} subject names the app`);
      assert.match(mail.text, /Hi Ada,/, `${name} text greets`);
      assert.match(mail.html, /Hi Ada,/, `${name} html greets`);
      if (['verify_email', 'reset_password', 'magic_link', 'invitation'].includes(name)) {
        assert.ok(mail.text.includes(LINK), `${name}: the link in the text, verbatim`);
        const inHtml = LINK.replace('&', '&amp;');
        assert.ok(mail.html.includes(`href="${inHtml}"`), `${name}: the link as a button`);
        assert.ok(mail.html.includes(`>${inHtml}</a>`), `${name}: the link as text`);
        assert.match(mail.text, /24 hours/);
      } else {
        assert.match(mail.text, /203\.0\.113\.9/, `${name}: the IP address`);
        assert.match(mail.text, /2025-01-01T00:00:00Z/, `${name}: the time`);
      }
    }
  });

  test('a missing variable renders empty, never "undefined"', async () => {
    const renderer = await createRenderer({ defaults });
    for (const name of TEMPLATE_NAMES) {
      const mail = await renderer.render(job(name));
      for (const part of [mail.subject, mail.text, mail.html]) {
        assert.doesNotMatch(part, /undefined|null|\{\{/, `${name}`);
      }
      assert.match(mail.text, /^Hi,/, `${name}: a greeting without a name`);
    }
  });

  test('optional details leave no gap or stray line in the text part', async () => {
    const renderer = await createRenderer({ defaults });
    const at = '2025-01-01T00:00:00Z';
    const withIp = await renderer.render(job('new_sign_in', { at, ip: '203.0.113.9' }));
    assert.ok(withIp.text.includes(`When: ${at}\nIP address: 203.0.113.9\n\nIf this was you`), withIp.text);
    const bare = await renderer.render(job('password_changed', { at }));
    assert.ok(bare.text.includes(`When: ${at}\n\nIf you made this change`), bare.text);
    assert.doesNotMatch(bare.html, /IP address|Device/);
  });

  test('escapes variables in the HTML part only; subject and text keep them as written', async () => {
    const renderer = await createRenderer({ defaults });
    const mail = await renderer.render(
      job('verify_email', { app_name: 'Acme & Co', name: '<script>alert("x")</script>', link: LINK }),
    );
    assert.equal(mail.subject, 'Confirm your email address for Acme & Co');
    assert.ok(mail.text.includes('Hi <script>alert("x")</script>,'));
    assert.ok(mail.html.includes('Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;,'));
    assert.ok(!mail.html.includes('<script>'));
    assert.ok(mail.html.includes('Acme &amp; Co'));
  });

  test('a subject stays on one line whatever a variable holds', async () => {
    const renderer = await createRenderer({ defaults });
    const mail = await renderer.render(job('verify_email', { app_name: 'Acme\r\nBcc: victim@example.com' }));
    assert.equal(mail.subject, 'Confirm your email address for Acme Bcc: victim@example.com');
  });

  test('a file in the override directory replaces that file only, and is read at render time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-templates-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'verify_email'));
    writeFileSync(join(dir, 'verify_email', 'body.txt'), 'Custom {{app_name}}: {{link}}\n');
    const renderer = await createRenderer({ defaults, overrideDir: dir });

    const first = await renderer.render(job('verify_email', { app_name: 'Acme', link: LINK }));
    assert.equal(first.text, `Custom Acme: ${LINK}\n`);
    assert.equal(first.subject, 'Confirm your email address for Acme', 'the subject is still the built-in one');
    assert.match(first.html, /Confirm email address/, 'the HTML is still the built-in one');

    writeFileSync(join(dir, 'verify_email', 'subject.txt'), 'Welcome to {{app_name}}\n');
    const second = await renderer.render(job('verify_email', { app_name: 'Acme', link: LINK }));
    assert.equal(second.subject, 'Welcome to Acme', 'an edit takes effect without a restart');
    const other = await renderer.render(job('reset_password', { app_name: 'Acme', link: LINK }));
    assert.equal(other.subject, 'Reset your Acme password', 'other templates are untouched');
  });

  test('a template cannot reach the view object prototype', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-templates-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'magic_link'));
    writeFileSync(join(dir, 'magic_link', 'body.txt'), '[{{constructor}}][{{toString}}]');
    const renderer = await createRenderer({ defaults, overrideDir: dir });
    const mail = await renderer.render(job('magic_link'));
    assert.equal(mail.text, '[][]');
  });
});
