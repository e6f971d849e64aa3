import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from './logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, log: createLogger({ level: 'debug', service: 'test', destination }) };
}

const SECRETS = {
  password: 'pw-1',
  mfa_token: 'mfa-2',
  code: '123456',
  recovery_code: 'rc-3',
  recovery_codes: ['rc-4'],
  token: 'ott-5',
  refresh_token: 'rt-6',
  secret: 'JBSWY3DP7',
  otpauth_url: 'otpauth://totp/x?secret=JBSWY3DP8',
  link: 'https://auth.example/confirm?token=ott-9',
  text: 'Your link: https://auth.example/confirm?token=ott-10',
};

test('secrets are redacted at the top level and one level down, wherever they are logged', () => {
  const { lines, log } = capture();
  log.info(SECRETS, 'top');
  log.info({ body: SECRETS }, 'in a body');
  log.info({ mail: SECRETS }, 'in a mail');
  log.info({ m: SECRETS }, 'in a message');
  log.info({ data: { code: '654321' }, payload: { code: '654322' } }, 'codes in payloads');
  log.info({ job: { vars: { link: 'https://auth.example/confirm?token=ott-11' } } }, 'in a mail job');
  const all = lines.join('');
  assert.equal(lines.length, 6);
  const values = [...Object.values(SECRETS).flat(), 'ott-11', '654321', '654322'];
  for (const value of values) assert.ok(!all.includes(String(value)), `${value} reached the log: ${all}`);
  assert.ok(all.includes('[redacted]'));
});

test('cookies and credentials in request and reply headers are redacted', () => {
  const { lines, log } = capture();
  log.info(
    {
      req: { headers: { authorization: 'Bearer at-1', cookie: 'gh_access=at-2', 'x-api-key': 'ak-3' } },
      res: { headers: { 'set-cookie': ['gh_refresh=rt-4; HttpOnly'] } },
      response: { headers: { 'set-cookie': 'gh_access=at-5' } },
    },
    'headers',
  );
  const all = lines.join('');
  for (const value of ['at-1', 'at-2', 'ak-3', 'rt-4', 'at-5']) assert.ok(!all.includes(value), `${value}: ${all}`);
  // What is not a secret stays readable, an error's code too.
  log.error({ err: Object.assign(new Error('down'), { code: 'ECONNREFUSED' }) }, 'failed');
  assert.ok(lines.at(-1)?.includes('ECONNREFUSED'), lines.at(-1));
  log.info({ user_id: 'u-1', subject: 'Confirm your address' }, 'plain');
  assert.ok(lines.at(-1)?.includes('u-1') && lines.at(-1)?.includes('Confirm your address'));
});
