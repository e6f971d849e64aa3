import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '@gatehouse/kit/testing';

// infra/scripts/last-link.mjs, the walk-through's mail client, must find the outbox wherever the
// server put it: the DATA_DIR of the server (set in its terminal only), of the environment, of a
// `.env` file, relative or not.
const ROOT = resolve(import.meta.dirname, '../../..');
const SCRIPT = join(ROOT, 'infra/scripts/last-link.mjs');
const run = promisify(execFile);

async function lastLink(cwd: string, env: Record<string, string>, ...args: string[]) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'DATA_DIR'));
  return run(process.execPath, [SCRIPT, ...args], { cwd, env: { ...clean, ...env } }).then(
    ({ stdout }) => ({ ok: true, out: stdout.trim() }),
    (err: { stderr: string }) => ({ ok: false, out: err.stderr.trim() }),
  );
}

/** Polls last-link until it prints something: the mailer writes the mail a moment after the reply. */
async function nextToken(cwd: string, env: Record<string, string>, previous = ''): Promise<string> {
  let found = { ok: false, out: '' };
  for (let i = 0; i < 100; i++) {
    found = await lastLink(cwd, env, '--token');
    if (found.ok && found.out !== previous) return found.out;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`no new mail: ${found.out}`);
}

describe('last-link.mjs finds the outbox of a server with DATA_DIR set', () => {
  let dir: string;
  let server: ChildProcess;
  let base = '';
  let token = '';
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-last-link-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // As the walk-through's reader runs it, DATA_DIR set for the server only (relative: from its directory).
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !/^(DATA_DIR|DATABASE_URL)$/.test(name)),
    );
    // tsx by its path: the server's working directory is outside the repository.
    const tsx = import.meta.resolve('tsx');
    server = spawn(process.execPath, ['--import', tsx, join(ROOT, 'apps/embedded/src/main.ts')], {
      cwd: dir,
      env: { ...clean, PORT: String(port), DATA_DIR: './server-data', PASSWORD_HASH: 'argon2id:m=8192,t=1,p=1' },
      stdio: 'ignore',
    });
    for (let i = 0; ; i++) {
      const up = await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      assert.ok(i < 240 && server.exitCode === null, 'the server did not start');
      await new Promise((r) => setTimeout(r, 250));
    }
    // The walk-through's first step: register, which mails a verification link to the outbox.
    const res = await post('/auth/register', { email: 'ada@example.test', password: 'correct horse battery' });
    assert.equal(res.status, 201);
  });
  after(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((ok) => server.once('exit', ok));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("with no DATA_DIR of its own (the server's is found), and the token it prints verifies the address", async () => {
    token = await nextToken(ROOT, {});
    assert.match(token, /^[A-Za-z0-9_-]{20,}$/);
    const res = await post('/auth/email/verify', { token });
    assert.equal(res.status, 200);
  });

  test('relative, from the working directory, from a .env file there, or given with --data-dir', async () => {
    assert.ok(token, 'the first test found the mail');
    assert.deepEqual(await lastLink(dir, { DATA_DIR: './server-data' }, '--token'), { ok: true, out: token });
    assert.deepEqual(await lastLink(dir, {}, '--data-dir', 'server-data', '--token'), { ok: true, out: token });
    // A `.env` file's DATA_DIR (a server started there would use it): its newer mail wins.
    const withEnvFile = join(dir, 'project');
    mkdirSync(join(withEnvFile, 'env-data', 'outbox'), { recursive: true });
    writeFileSync(join(withEnvFile, '.env'), 'PORT=9999\nDATA_DIR=./env-data\n');
    writeFileSync(
      join(withEnvFile, 'env-data', 'outbox', `${Date.now()}-x.eml`),
      'Subject: x\r\n\r\nhttp://localhost:9999/auth/confirm?token=3D=\r\nfrom-the-env-file\r\n',
    );
    assert.deepEqual(await lastLink(withEnvFile, {}, '--token'), { ok: true, out: 'from-the-env-file' });
    // The environment wins over the file, as for the server.
    const wrong = await lastLink(withEnvFile, { DATA_DIR: join(dir, 'elsewhere') }, '--token');
    assert.equal(wrong.ok, false);
    assert.match(wrong.out, /no mail in .*elsewhere/);
    // The full link too, by default.
    const link = await lastLink(dir, { DATA_DIR: join(dir, 'server-data') });
    assert.match(link.out, new RegExp(`^https?://.+[?&]token=${token}`));
  });
});
