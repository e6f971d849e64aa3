// The operator commands as an operator runs them (`pnpm gatehouse ...`, a child process), in
// both modes: against a fresh Postgres database (DATABASE_URL) and an embedded PGlite data dir
// (DATA_DIR). The admin it creates then signs in through the identity service itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { openDatabase } from '@gatehouse/db';
import { createPostgresDatabase, silentLog } from '@gatehouse/db/testing';
import { type Database, MemoryFlowStore, startIdentity } from '@gatehouse/identity';
import { apiKeyHash, Bus, InProcessAuditQueue, InProcessTransport, loadConfig } from '@gatehouse/kit';

const ROOT = resolve(import.meta.dirname, '../../..');
const CHEAP_HASH = 'argon2id:m=8192,t=1,p=1';
const DEFAULT_PROJECT_ID = '00000000-0000-7000-8000-000000000001';
const PASSWORD = 'an operator passphrase';
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `pnpm gatehouse <args>` with `stdin` piped in, in a directory without a .env. */
function gatehouse(env: Record<string, string>, args: string[], stdin = ''): Promise<Run> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'apps/cli/src/main.ts'), ...args],
      {
        cwd: join(ROOT, 'apps/cli'),
        env: { PATH: process.env.PATH ?? '', PASSWORD_HASH: CHEAP_HASH, ...env },
        timeout: 60_000,
      },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin);
  });
}

/** Whether identity, over this database, signs `email` in with `password`. */
async function signsIn(
  open: () => Promise<import('kysely').Kysely<Database>>,
  email: string,
  password: string,
): Promise<string> {
  const db = await open();
  const bus = new Bus(new InProcessTransport(), silentLog, { timeoutMs: 10_000 });
  const audit = new InProcessAuditQueue({ log: silentLog });
  const identity = await startIdentity({
    bus,
    db,
    config: loadConfig({ PASSWORD_HASH: CHEAP_HASH }),
    mail: { enqueue: async () => {} },
    audit,
    flows: new MemoryFlowStore(),
    log: silentLog,
  });
  try {
    const { user } = await bus.request('identity.user.authenticate', {
      project_id: DEFAULT_PROJECT_ID,
      email,
      password,
    });
    return user.role;
  } finally {
    await identity.close();
    await audit.close();
    await bus.transport.close();
    await db.destroy();
  }
}

for (const mode of ['stack', 'embedded'] as const) {
  describe(`pnpm gatehouse (${mode})`, () => {
    let env: Record<string, string>;
    let open: () => Promise<import('kysely').Kysely<Database>>;

    test('migrate makes the schema (and again changes nothing)', async () => {
      if (mode === 'stack') {
        const created = await createPostgresDatabase();
        cleanups.push(async () => created.drop());
        env = { DATABASE_URL: created.url };
        open = () => openDatabase<Database>({ databaseUrl: created.url, dataDir: tmpdir(), log: silentLog });
      } else {
        const dataDir = await mkdtemp(join(tmpdir(), 'gh-cli-'));
        cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
        env = { DATA_DIR: dataDir };
        open = () => openDatabase<Database>({ dataDir, log: silentLog });
      }
      const listedEarly = await gatehouse(env, ['users', 'list']);
      if (mode === 'embedded') {
        assert.equal(listedEarly.code, 1, 'no embedded database yet');
        assert.match(listedEarly.stderr, /no embedded database/);
      }
      for (let i = 0; i < 2; i++) {
        const run = await gatehouse(env, ['migrate']);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /identity and mfa are up to date/);
      }
    });

    test('admin create reads the password from stdin; the admin signs in with it', async () => {
      const email = `ops-${mode}@example.com`;
      const run = await gatehouse(env, ['admin', 'create', email, '--name', 'Ops'], `${PASSWORD}\n`);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, new RegExp(`created admin ${email} \\([0-9a-f-]{36}\\)`));
      assert.ok(!run.stdout.includes(PASSWORD) && !run.stderr.includes(PASSWORD), 'the password is never printed');
      assert.equal(await signsIn(open, email, PASSWORD), 'admin');

      const again = await gatehouse(env, ['admin', 'create', email.toUpperCase()], `${PASSWORD}\n`);
      assert.equal(again.code, 1);
      assert.match(again.stdout, /already has an account/);
      const short = await gatehouse(env, ['admin', 'create', `short-${mode}@example.com`], 'short\n');
      assert.equal(short.code, 1);
      assert.match(short.stdout, /8 to 128 characters/);
      const none = await gatehouse(env, ['admin', 'create', `none-${mode}@example.com`], '');
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no password on standard input/);
      const bad = await gatehouse(env, ['admin', 'create', 'not-an-address'], `${PASSWORD}\n`);
      assert.equal(bad.code, 1);
      // No flag takes a password: it would end up in the shell history and the process list.
      const flag = await gatehouse(env, ['admin', 'create', `flag-${mode}@example.com`, '--password', PASSWORD]);
      assert.equal(flag.code, 1);
      assert.equal((await gatehouse(env, ['admin', 'create'])).code, 2);
    });

    test('users list prints the users, newest first, filtered by --search', async () => {
      const second = `second-${mode}@example.com`;
      assert.equal((await gatehouse(env, ['admin', 'create', second], `${PASSWORD}\n`)).code, 0);
      const run = await gatehouse(env, ['users', 'list']);
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.trim().split('\n');
      assert.equal(lines[0], 'id\temail\trole\tverified\tbanned\tcreated_at');
      assert.deepEqual(
        lines.slice(1).map((l) => l.split('\t').slice(1, 5)),
        [
          [second, 'admin', 'yes', 'no'],
          [`ops-${mode}@example.com`, 'admin', 'yes', 'no'],
        ],
      );
      const found = await gatehouse(env, ['users', 'list', '--search', 'SECOND', '--limit', '5']);
      assert.equal(found.stdout.trim().split('\n').length, 2);
      assert.equal((await gatehouse(env, ['users', 'list', '--limit', '0'])).code, 2);
      assert.equal((await gatehouse(env, ['users', 'frobnicate'])).code, 2);
    });

    /** The project row as stored. */
    const projectRow = async (id: string) => {
      const db = await open();
      try {
        return await db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      } finally {
        await db.destroy();
      }
    };
    /** The id and keys a project command printed, each line asserted. */
    const printedKeys = (stdout: string) => {
      const id = /\(([0-9a-f-]{36})\)/.exec(stdout)?.[1];
      const pk = /^publishable key: +(pk_[A-Za-z0-9_-]{43})$/m.exec(stdout)?.[1];
      const sk = /^secret key: +(sk_[A-Za-z0-9_-]{43})$/m.exec(stdout)?.[1];
      assert.ok(id && pk && sk, stdout);
      assert.equal(stdout.split(sk).length, 2, 'the secret key is printed once');
      assert.match(stdout, /shown only this once/);
      assert.match(stdout, /Running gateways pick this up within their project reload interval/);
      return { id, pk, sk };
    };

    test('project create prints the id and both keys, the secret once; only its hash is stored', async () => {
      const run = await gatehouse(env, ['project', 'create', `Shop ${mode}`]);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, new RegExp(`^created project Shop ${mode} \\([0-9a-f-]{36}\\)$`, 'm'));
      const { id, pk, sk } = printedKeys(run.stdout);
      const row = await projectRow(id);
      assert.equal(row.name, `Shop ${mode}`);
      assert.equal(row.publishable_key, pk);
      assert.equal(row.secret_key_hash, apiKeyHash(sk));
      assert.deepEqual(row.settings, {});
      assert.ok(!JSON.stringify(row).includes(sk.slice(3)), 'the secret itself is stored nowhere');

      const blank = await gatehouse(env, ['project', 'create', '   ']);
      assert.equal(blank.code, 1);
      assert.match(blank.stdout, /must not be blank/);
      assert.equal((await gatehouse(env, ['project', 'create'])).code, 2);
      assert.equal((await gatehouse(env, ['project', 'create', 'a', 'b'])).code, 2);
    });

    test('project keys rotate prints a new pair: both keys change, the old secret hash is gone; default names the default project', async () => {
      const created = printedKeys((await gatehouse(env, ['project', 'create', `Rotated ${mode}`])).stdout);
      const run = await gatehouse(env, ['project', 'keys', 'rotate', created.id]);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, new RegExp(`rotated the keys of project Rotated ${mode} \\(${created.id}\\)`));
      const rotated = printedKeys(run.stdout);
      assert.equal(rotated.id, created.id);
      assert.notEqual(rotated.pk, created.pk);
      assert.notEqual(rotated.sk, created.sk);
      const row = await projectRow(created.id);
      assert.equal(row.publishable_key, rotated.pk);
      assert.equal(row.secret_key_hash, apiKeyHash(rotated.sk));

      const before = await projectRow(DEFAULT_PROJECT_ID);
      assert.match(before.publishable_key, /^pk_/, 'the default project has a publishable key from the migration');
      assert.equal(before.secret_key_hash, null, 'and no secret key until one is made');
      const first = await gatehouse(env, ['project', 'keys', 'rotate', 'default']);
      assert.equal(first.code, 0, first.stderr + first.stdout);
      const keys = printedKeys(first.stdout);
      assert.equal(keys.id, DEFAULT_PROJECT_ID);
      const after = await projectRow(DEFAULT_PROJECT_ID);
      assert.equal(after.publishable_key, keys.pk);
      assert.notEqual(after.publishable_key, before.publishable_key);
      assert.equal(after.secret_key_hash, apiKeyHash(keys.sk));

      const unknown = await gatehouse(env, ['project', 'keys', 'rotate', '00000000-0000-7000-8000-00000000dead']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stdout, /no project/);
      assert.equal((await gatehouse(env, ['project', 'keys', 'rotate', 'not-an-id'])).code, 2);
      assert.equal((await gatehouse(env, ['project', 'keys', 'rotate'])).code, 2);
      assert.equal((await gatehouse(env, ['project', 'keys', 'frobnicate', 'default'])).code, 2);
    });
  });
}
