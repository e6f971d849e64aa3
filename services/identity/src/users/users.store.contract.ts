// The one contract every UsersStore backend must meet; run by the PGlite and the Postgres test files.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { AppError, newId, newProjectKeys } from '@gatehouse/kit';
import type { TestDatabase } from '../db/test-databases.ts';
import { MAX_METADATA_BYTES } from './metadata.ts';
import { PostgresUsersStore, type UsersStore } from './users.store.ts';

const P = DEFAULT_PROJECT_ID;
const unique = (tag: string) => `${tag}-${newId()}@example.test`;

/** Registers the UsersStore contract tests for the database `open` yields (dropped after the suite). */
export function usersStoreContract(backend: string, open: () => Promise<TestDatabase>): void {
  describe(`UsersStore contract on ${backend}`, () => {
    let database: TestDatabase;
    let store: UsersStore;
    let otherProject: string;

    before(async () => {
      database = await open();
      store = new PostgresUsersStore(database.db);
      otherProject = newId();
      await database.db
        .insertInto('projects')
        .values({ id: otherProject, name: 'Other', publishable_key: newProjectKeys().publishable_key })
        .execute();
    });
    after(() => database?.drop());

    test('creates a user with defaults and reads it back by id', async () => {
      const created = await store.create({ projectId: P, email: unique('new'), passwordHash: 'h', role: 'user' });
      assert.equal(created.email_verified, false);
      assert.equal(created.banned, false);
      assert.deepEqual(created.metadata, {});
      assert.ok(created.created_at instanceof Date);
      assert.deepEqual(await store.findById(P, created.id), created);
    });

    test('stores the email lower case and finds it in any case', async () => {
      const email = unique('MiXeD').toUpperCase();
      const created = await store.create({ projectId: P, email, passwordHash: 'h', role: 'user' });
      assert.equal(created.email, email.toLowerCase());
      assert.equal((await store.findByEmail(P, email))?.id, created.id);
      assert.equal((await store.findByEmail(P, `  ${email.toLowerCase()} `))?.id, created.id);
    });

    test('refuses a second user with the same email in any case: email_taken', async () => {
      const email = unique('taken');
      await store.create({ projectId: P, email, passwordHash: 'h', role: 'user' });
      await assert.rejects(
        store.create({ projectId: P, email: email.toUpperCase(), passwordHash: 'h', role: 'user' }),
        (err) => err instanceof AppError && err.code === 'email_taken' && !/insert|constraint/i.test(err.message),
      );
    });

    test('stores one canonical form for the NFC and NFD, Unicode and punycode spellings of one address', async () => {
      const t = newId().slice(-12);
      const nfd = `e\u0301look-${t}@xn--bcher-kva.example`;
      const canonical = `\u00e9look-${t}@b\u00fccher.example`;
      const created = await store.create({ projectId: P, email: nfd, passwordHash: 'h', role: 'user' });
      assert.equal(created.email, canonical);
      for (const spelling of [canonical, nfd, `\u00c9LOOK-${t}@B\u00dcCHER.example`]) {
        assert.equal((await store.findByEmail(P, spelling))?.id, created.id, spelling);
        await assert.rejects(
          store.create({ projectId: P, email: spelling, passwordHash: 'h', role: 'user' }),
          (err) => err instanceof AppError && err.code === 'email_taken',
        );
      }
      const other = await store.create({ projectId: P, email: unique('move'), passwordHash: 'h', role: 'user' });
      await assert.rejects(
        store.update(P, other.id, { email: `\u00c9look-${t}@b\u00fccher.EXAMPLE` }),
        (err) => err instanceof AppError && err.code === 'email_taken',
      );
    });

    test('refuses to store an address that is not one mailbox, and finds none for it', async () => {
      const t = newId().slice(-12);
      const user = await store.create({ projectId: P, email: unique('kept'), passwordHash: 'h', role: 'user' });
      for (const bad of [`"look-${t}"@example.com`, `zz-${t},qq@example.com`, `look-${t}\u200b@example.com`]) {
        await assert.rejects(
          store.create({ projectId: P, email: bad, passwordHash: 'h', role: 'user' }),
          (err) => err instanceof AppError && err.code === 'validation_failed',
          bad,
        );
        await assert.rejects(
          store.update(P, user.id, { email: bad }),
          (err) => err instanceof AppError && err.code === 'validation_failed',
          bad,
        );
        assert.equal(await store.findByEmail(P, bad), null);
      }
      assert.equal((await store.findById(P, user.id))?.email, user.email, 'unchanged');
    });

    test('allows the same email in another project, and keeps the projects apart', async () => {
      const email = unique('twice');
      const a = await store.create({ projectId: P, email, passwordHash: 'h', role: 'user' });
      const b = await store.create({ projectId: otherProject, email, passwordHash: 'h', role: 'user' });
      assert.notEqual(a.id, b.id);
      assert.equal((await store.findByEmail(otherProject, email))?.id, b.id);
      assert.equal(await store.findById(otherProject, a.id), null);
      assert.equal(await store.update(otherProject, a.id, { name: 'x' }), null);
      assert.equal(await store.delete(otherProject, a.id), false);
    });

    test('returns null for an unknown id or email', async () => {
      assert.equal(await store.findById(P, newId()), null);
      assert.equal(await store.findByEmail(P, unique('nobody')), null);
      assert.equal(await store.update(P, newId(), { name: 'x', metadataPatch: { a: 1 } }), null);
    });

    test('creates guests without email or password, as many as wanted', async () => {
      const a = await store.create({ projectId: P, email: null, passwordHash: null, role: 'guest' });
      const b = await store.create({ projectId: P, email: null, passwordHash: null, role: 'guest' });
      assert.equal(a.email, null);
      assert.equal(b.password_hash, null);
    });

    test('updates only the given fields, clears with null, and moves updated_at', async () => {
      const user = await store.create({
        projectId: P,
        email: unique('upd'),
        passwordHash: 'h',
        role: 'user',
        name: 'A',
      });
      await new Promise((r) => setTimeout(r, 5));
      const changed = await store.update(P, user.id, { avatarUrl: 'https://a.test/x.png', banned: true });
      assert.equal(changed?.name, 'A');
      assert.equal(changed?.avatar_url, 'https://a.test/x.png');
      assert.equal(changed?.banned, true);
      assert.ok((changed?.updated_at.getTime() ?? 0) > user.updated_at.getTime());
      const cleared = await store.update(P, user.id, { name: null, role: 'admin', emailVerified: true });
      assert.equal(cleared?.name, null);
      assert.equal(cleared?.role, 'admin');
      assert.equal(cleared?.email_verified, true);
      assert.equal(cleared?.created_at.getTime(), user.created_at.getTime());
    });

    test('applies a guarded update only while the row still meets the guard', async () => {
      const guest = await store.create({ projectId: P, email: null, passwordHash: null, role: 'guest' });
      const converted = await store.update(P, guest.id, { role: 'user', email: unique('cas') }, { role: 'guest' });
      assert.equal(converted?.role, 'user');
      assert.equal(await store.update(P, guest.id, { email: unique('late') }, { role: 'guest' }), null);
      assert.equal((await store.findById(P, guest.id))?.email, converted?.email);

      const user = await store.create({ projectId: P, email: unique('hash'), passwordHash: 'old', role: 'user' });
      assert.equal(await store.update(P, user.id, { passwordHash: 'rehash' }, { passwordHash: 'stale' }), null);
      assert.equal(
        (await store.update(P, user.id, { passwordHash: 'new' }, { passwordHash: 'old' }))?.password_hash,
        'new',
      );
      const guarded = await store.update(P, user.id, { metadataPatch: { a: 1 } }, { role: 'guest' });
      assert.equal(guarded, null);
      assert.deepEqual((await store.findById(P, user.id))?.metadata, {});
    });

    test('changing the email to a taken one is email_taken', async () => {
      const taken = unique('owner');
      await store.create({ projectId: P, email: taken, passwordHash: 'h', role: 'user' });
      const guest = await store.create({ projectId: P, email: null, passwordHash: null, role: 'guest' });
      await assert.rejects(store.update(P, guest.id, { email: taken.toUpperCase() }), { code: 'email_taken' });
      assert.equal((await store.findById(P, guest.id))?.email, null);
    });

    test('merges metadata shallowly; a null value removes its key', async () => {
      const metadata = { keep: 1, nested: { a: 1, b: 2 }, drop: 'x', list: [1, 2] };
      const user = await store.create({
        projectId: P,
        email: unique('meta'),
        passwordHash: 'h',
        role: 'user',
        metadata,
      });
      assert.deepEqual(user.metadata, metadata);
      const merged = await store.update(P, user.id, { metadataPatch: { nested: { c: 3 }, drop: null, added: true } });
      assert.deepEqual(merged?.metadata, { keep: 1, nested: { c: 3 }, list: [1, 2], added: true });
    });

    test('refuses metadata over 16 KiB on create and after a merge, leaving the row unchanged', async () => {
      const big = { blob: 'x'.repeat(MAX_METADATA_BYTES) };
      await assert.rejects(
        store.create({ projectId: P, email: unique('big'), passwordHash: 'h', role: 'user', metadata: big }),
        { code: 'validation_failed' },
      );
      const half = 'y'.repeat(MAX_METADATA_BYTES / 2);
      const user = await store.create({ projectId: P, email: unique('grow'), passwordHash: 'h', role: 'user' });
      await store.update(P, user.id, { metadataPatch: { a: half } });
      await assert.rejects(store.update(P, user.id, { metadataPatch: { b: half }, name: 'n' }), {
        code: 'validation_failed',
      });
      const after = await store.findById(P, user.id);
      assert.deepEqual(after?.metadata, { a: half });
      assert.equal(after?.name, null);
    });

    test('refuses text the database cannot store (U+0000, a lone surrogate in JSON): validation_failed, row unchanged', async () => {
      // The database refuses these itself (22021, 22P05, 22P02 on json); the store must answer 400, not a driver error.
      const refused = (err: unknown) =>
        err instanceof AppError &&
        err.code === 'validation_failed' &&
        err.message === 'the request holds characters that cannot be stored' &&
        !/0x00|UTF8|escape|syntax|insert|update/i.test(JSON.stringify(err.details));
      const user = await store.create({ projectId: P, email: unique('chars'), passwordHash: 'h', role: 'user' });
      const bad: { name?: string; metadata?: Record<string, unknown> }[] = [
        { name: 'nul in a name: a\u0000b' },
        { metadata: { note: 'nul in a value: a\u0000b' } },
        { metadata: { 'nul in a key\u0000': 1 } },
        { metadata: { note: 'a lone high surrogate: \ud800' } },
        { metadata: { note: 'a lone low surrogate: \udc00' } },
      ];
      for (const fields of bad) {
        const what = JSON.stringify(fields);
        await assert.rejects(
          store.create({ projectId: P, email: unique('chars'), passwordHash: 'h', role: 'user', ...fields }),
          refused,
          what,
        );
        const changes = fields.name === undefined ? { metadataPatch: fields.metadata } : { name: fields.name };
        await assert.rejects(store.update(P, user.id, changes), refused, what);
      }
      const after = await store.findById(P, user.id);
      assert.equal(after?.name, null);
      assert.deepEqual(after?.metadata, {});
      // The store still works after each refusal (on PGlite: the one connection is free again).
      await store.update(P, user.id, { name: 'fine', metadataPatch: { ok: '\ud83d\ude00' } });
      assert.deepEqual((await store.findById(P, user.id))?.metadata, { ok: '\ud83d\ude00' });
    });

    test('concurrent metadata patches both land', async () => {
      const user = await store.create({ projectId: P, email: unique('race'), passwordHash: 'h', role: 'user' });
      await Promise.all(
        Array.from({ length: 5 }, (_, i) => store.update(P, user.id, { metadataPatch: { [`k${i}`]: i } })),
      );
      assert.deepEqual((await store.findById(P, user.id))?.metadata, { k0: 0, k1: 1, k2: 2, k3: 3, k4: 4 });
    });

    test('deletes a user, and its one-time tokens with it', async () => {
      const user = await store.create({ projectId: P, email: unique('del'), passwordHash: 'h', role: 'user' });
      await database.db
        .insertInto('one_time_tokens')
        .values({
          id: newId(),
          project_id: P,
          user_id: user.id,
          email: user.email ?? '',
          purpose: 'verify_email',
          token_hash: newId(),
          expires_at: new Date(),
        })
        .execute();
      assert.equal(await store.delete(P, user.id), true);
      assert.equal(await store.findById(P, user.id), null);
      assert.equal(await store.delete(P, user.id), false);
      const tokens = await database.db
        .selectFrom('one_time_tokens')
        .selectAll()
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(tokens.length, 0);
    });

    test('tells whether a project has an admin', async () => {
      const project = newId();
      await database.db
        .insertInto('projects')
        .values({ id: project, name: 'Admins', publishable_key: newProjectKeys().publishable_key })
        .execute();
      assert.equal(await store.hasAdmin(project), false);
      await store.create({ projectId: project, email: unique('adm'), passwordHash: 'h', role: 'admin' });
      assert.equal(await store.hasAdmin(project), true);
    });

    test('lists a project newest first, a page below a position, and searches the email or the name', async () => {
      const project = newId();
      await database.db
        .insertInto('projects')
        .values({ id: project, name: 'Listed', publishable_key: newProjectKeys().publishable_key })
        .execute();
      const made = [];
      for (const [tag, name] of [
        ['ann', 'Ann Smith'],
        ['bob', 'Bob 100%_real'],
        ['cat', null],
        ['dan', 'Dan Smithers'],
      ] as const) {
        made.push(
          await store.create({ projectId: project, email: unique(tag), passwordHash: 'h', role: 'user', name }),
        );
      }
      await store.create({ projectId: otherProject, email: unique('ann'), passwordHash: 'h', role: 'user' });
      const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
      const newest = [...made].reverse();
      assert.deepEqual(ids(await store.list(project, { limit: 10 })), ids(newest));
      assert.deepEqual(ids(await store.list(project, { limit: 2 })), ids(newest.slice(0, 2)));
      assert.deepEqual(
        ids(await store.list(project, { limit: 10, before: (newest[1] as { id: string }).id })),
        ids(newest.slice(2)),
      );
      // Any case, in the name or in the email; a wildcard is a plain character.
      assert.deepEqual(
        ids(await store.list(project, { limit: 10, search: 'SMITH' })),
        ids([made[3], made[0]] as { id: string }[]),
      );
      assert.deepEqual(
        ids(await store.list(project, { limit: 10, search: 'CAT-' })),
        ids([made[2]] as { id: string }[]),
      );
      assert.deepEqual(ids(await store.list(project, { limit: 10, search: '%_' })), ids([made[1]] as { id: string }[]));
      assert.deepEqual(ids(await store.list(project, { limit: 10, search: '_' })), ids([made[1]] as { id: string }[]));
      assert.deepEqual(await store.list(project, { limit: 10, search: 'n%h' }), []);
    });

    test('an admin change that would leave no admin who can sign in is refused: last_admin, nothing changed', async () => {
      const project = newId();
      await database.db
        .insertInto('projects')
        .values({ id: project, name: 'Guarded', publishable_key: newProjectKeys().publishable_key })
        .execute();
      const a = await store.create({ projectId: project, email: unique('a'), passwordHash: 'h', role: 'admin' });
      const b = await store.create({ projectId: project, email: unique('b'), passwordHash: 'h', role: 'admin' });
      const lastAdmin = (err: unknown) => err instanceof AppError && err.code === 'last_admin';
      assert.equal((await store.updateKeepingAnAdmin(project, a.id, { banned: true }))?.banned, true);
      await assert.rejects(store.updateKeepingAnAdmin(project, b.id, { role: 'user' }), lastAdmin);
      await assert.rejects(store.updateKeepingAnAdmin(project, b.id, { banned: true }), lastAdmin);
      await assert.rejects(store.deleteKeepingAnAdmin(project, b.id), lastAdmin);
      assert.equal((await store.findById(project, b.id))?.role, 'admin');
      assert.equal((await store.findById(project, b.id))?.banned, false);
      // Other changes to the last admin go through; so does lifting the ban of another.
      assert.equal((await store.updateKeepingAnAdmin(project, b.id, { name: 'Still here' }))?.name, 'Still here');
      await store.updateKeepingAnAdmin(project, a.id, { banned: false });
      assert.equal((await store.deleteKeepingAnAdmin(project, b.id))?.id, b.id);
      assert.equal(await store.deleteKeepingAnAdmin(project, b.id), null);
      assert.equal(await store.updateKeepingAnAdmin(project, newId(), { name: 'x' }), null);
    });

    test('two admins demoting each other at once: one of them stays admin', async () => {
      const project = newId();
      await database.db
        .insertInto('projects')
        .values({ id: project, name: 'Race', publishable_key: newProjectKeys().publishable_key })
        .execute();
      const a = await store.create({ projectId: project, email: unique('a'), passwordHash: 'h', role: 'admin' });
      const b = await store.create({ projectId: project, email: unique('b'), passwordHash: 'h', role: 'admin' });
      const results = await Promise.allSettled([
        store.updateKeepingAnAdmin(project, a.id, { role: 'user' }),
        store.updateKeepingAnAdmin(project, b.id, { role: 'user' }),
      ]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      assert.equal(await store.hasAdmin(project), true);
    });

    test('an admin change merges metadata like update', async () => {
      const user = await store.create({
        projectId: P,
        email: unique('meta'),
        passwordHash: 'h',
        role: 'user',
        metadata: { keep: 1, drop: 2 },
      });
      const row = await store.updateKeepingAnAdmin(P, user.id, { metadataPatch: { drop: null, add: 3 } });
      assert.deepEqual(row?.metadata, { keep: 1, add: 3 });
    });
  });
}
