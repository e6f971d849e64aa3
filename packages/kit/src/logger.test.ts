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

/** What PGlite throws for a failed insert into users: the statement's values ride along in `params`. */
const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g';
const TOKEN_HASH = 'a'.repeat(64);
function driverError(): Error {
  return Object.assign(new Error('new row for relation "users" violates check constraint "users_role_check"'), {
    name: 'error',
    severity: 'ERROR',
    code: '23514',
    detail: `Failing row contains (0b0e, ada@example.test, f, ${HASH}, Ada, null, wizard).`,
    table: 'users',
    constraint: 'users_role_check',
    where: `SQL statement "insert ... ${HASH}"`,
    internalQuery: `select '${HASH}'`,
    query: 'insert into "users" ("id", "email", "password_hash") values ($1, $2, $3)',
    params: ['0b0e', 'ada@example.test', HASH],
    queryOptions: { parsers: {} },
  });
}

test('a driver error is logged without the values its statement ran with, wherever it sits', () => {
  const { lines, log } = capture();
  const err = driverError();
  log.error({ err }, 'unexpected error');
  log.error(driverError(), 'as the first argument');
  log.child({ reqId: 'r-1' }).error({ err: driverError() }, 'in a child logger');
  log.error({ err: new Error('wrapped', { cause: driverError() }) }, 'as a cause');
  log.error({ err: new AggregateError([driverError(), driverError()], 'all failed') }, 'aggregated');
  log.error({ err: Object.assign(new Error('outer'), { original: driverError(), list: [driverError()] }) }, 'attached');
  log.error({ err: Object.assign(new Error('outer'), { cause: { params: [HASH], detail: 'x' } }) }, 'plain cause');
  log.error({ error: driverError(), cause: driverError() }, 'other keys');
  log.error({ err: Object.assign(new Error('redis'), { command: { name: 'set', args: ['k', TOKEN_HASH] } }) }, 'r');
  log.error(
    {
      err: Object.assign(new Error('attached data'), {
        user: { password_hash: HASH, token_hash: TOKEN_HASH, secret: 'JBSWY3DP', code: '23505' },
      }),
    },
    'fields',
  );
  assert.equal(lines.length, 10);
  for (const line of lines) {
    for (const value of [HASH, '$argon2id$', TOKEN_HASH, 'JBSWY3DP']) {
      assert.ok(!line.includes(value), `${value} reached the log: ${line}`);
    }
  }
  // What helps to debug stays: code, constraint, table, the SQL text, the message.
  const first = JSON.parse(lines[0] ?? '{}');
  assert.equal(first.err.code, '23514');
  assert.equal(first.err.constraint, 'users_role_check');
  assert.equal(first.err.table, 'users');
  assert.match(first.err.query, /^insert into "users"/);
  assert.match(first.err.message, /violates check constraint/);
  assert.equal(first.err.detail, 'Failing row contains ([redacted]).');
  assert.equal(first.err.params, undefined);
  assert.equal(first.err.where, undefined);
  assert.equal(JSON.parse(lines[2] ?? '{}').reqId, 'r-1');
  assert.match(JSON.parse(lines[3] ?? '{}').err.message, /wrapped: new row for relation/);
  assert.equal(JSON.parse(lines[4] ?? '{}').err.aggregateErrors[1].code, '23514');
  assert.equal(JSON.parse(lines[8] ?? '{}').err.command.name, 'set');
  assert.equal(JSON.parse(lines[9] ?? '{}').err.user.code, '23505');
  // The logged error itself is not changed.
  assert.deepEqual((err as unknown as { params: string[] }).params, ['0b0e', 'ada@example.test', HASH]);
});

test('a unique violation keeps the columns of its detail, not the values', () => {
  const { lines, log } = capture();
  const detail = (d: string) => Object.assign(new Error('duplicate key'), { code: '23505', detail: d });
  log.error({ err: detail(`Key (token_hash)=(${TOKEN_HASH}) already exists.`) }, 'unique');
  log.error({ err: detail(`Key (user_id)=(u-1) is not present in table "users".`) }, 'foreign key');
  log.error({ err: detail(`Key (a)=(1) conflicts with existing key (a)=(${TOKEN_HASH}).`) }, 'exclusion');
  log.error({ err: detail('\\u0000 cannot be converted to text.') }, 'other');
  const details = lines.map((l) => JSON.parse(l).err.detail);
  assert.deepEqual(details, [
    'Key (token_hash)=([redacted]) already exists.',
    'Key (user_id)=([redacted]) is not present in table "users".',
    '[redacted]',
    '\\u0000 cannot be converted to text.',
  ]);
});

test('hashes and keys are redacted as top-level fields', () => {
  const { lines, log } = capture();
  log.info(
    {
      hash: HASH,
      password_hash: HASH,
      passwordHash: HASH,
      token_hash: TOKEN_HASH,
      key: 'k-1',
      private_key: 'pk-2',
      api_key: 'ak-3',
      secret_key: 'sk-4',
      params: [HASH],
      kid: 'kid-stays',
    },
    'fields',
  );
  const line = lines.join('');
  for (const value of [HASH, TOKEN_HASH, 'k-1', 'pk-2', 'ak-3', 'sk-4']) assert.ok(!line.includes(value), line);
  assert.ok(line.includes('kid-stays'));
});
