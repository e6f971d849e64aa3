// identity.project.* over the in-process bus, on a migrated PGlite database: the keys (the
// secret shown once, stored as a hash), the settings rules, the change events, the directory
// the gateways keep, and a project's require_email_verification in identity's own sign-in rule.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID, type ProjectSettings } from '@gatehouse/contracts';
import { AppError, apiKeyHash, isAppError, newId } from '@gatehouse/kit';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';
import { ProjectsStore } from './projects.store.ts';
import { Projects } from './projects.ts';

const PASSWORD = 'a long enough password';
const PK = /^pk_[A-Za-z0-9_-]{43}$/;
const SK = /^sk_[A-Za-z0-9_-]{43}$/;

describe('identity.project.*', () => {
  let identity: TestIdentity;
  const changed: string[] = [];
  before(async () => {
    identity = await startTestIdentity();
    identity.bus.subscribe('events.project.changed', (e) => {
      changed.push(e.project_id);
    });
  });
  after(() => identity?.close());

  const create = (name: string, settings?: ProjectSettings) =>
    identity.bus.request('identity.project.create', { name, ...(settings ? { settings } : {}) });
  const update = (project_id: string, fields: { name?: string; settings?: Record<string, unknown> }) =>
    identity.bus.request('identity.project.update', { project_id, ...fields });
  const rowOf = (id: string) =>
    identity.database.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  /** The field a `validation_failed` names, asserting the code. */
  const failedField = async (promise: Promise<unknown>): Promise<string> => {
    try {
      await promise;
    } catch (err) {
      assert.ok(isAppError(err, 'validation_failed'), String(err));
      return (err.details?.[0] as { field?: string } | undefined)?.field ?? '(no field)';
    }
    assert.fail('expected validation_failed');
  };

  test('the default project has a publishable key from the migration and no secret key yet; it leads the list', async () => {
    const row = await rowOf(DEFAULT_PROJECT_ID);
    assert.match(row.publishable_key, PK);
    assert.equal(row.secret_key_hash, null);
    assert.deepEqual(row.settings, {});
    const { projects } = await identity.bus.request('identity.project.list', {});
    assert.deepEqual(projects[0], {
      id: DEFAULT_PROJECT_ID,
      name: 'Default',
      publishable_key: row.publishable_key,
      settings: {},
      created_at: row.created_at.toISOString(),
    });
  });

  test('create: keys of their forms, the secret in this answer only and stored as its hash; listed; published', async () => {
    const before = changed.length;
    const settings: ProjectSettings = {
      access_token_ttl: 300,
      refresh_token_ttl: 86_400,
      redirect_allowlist: ['https://app.example/auth/', 'http://localhost:3000'],
      sign_in_methods: ['password', 'passkey'],
    };
    const { project, secret_key } = await create('  Shop  ', settings);
    assert.equal(project.name, 'Shop', 'trimmed');
    assert.match(project.publishable_key, PK);
    assert.match(secret_key, SK);
    assert.deepEqual(project.settings, settings);
    assert.deepEqual(Object.keys(project).sort(), ['created_at', 'id', 'name', 'publishable_key', 'settings']);
    const row = await rowOf(project.id);
    assert.equal(row.secret_key_hash, apiKeyHash(secret_key));
    assert.ok(!JSON.stringify(row).includes(secret_key.slice(3)), 'the secret itself is nowhere in the row');
    assert.deepEqual(changed.slice(before), [project.id]);
    const { projects } = await identity.bus.request('identity.project.list', {});
    assert.deepEqual(
      projects.find((p) => p.id === project.id),
      project,
    );
    assert.ok(!JSON.stringify(projects).includes(secret_key.slice(3)), 'a list never shows a secret');
    const other = await create('Other');
    assert.notEqual(other.project.publishable_key, project.publishable_key);
    assert.notEqual(other.secret_key, secret_key);
    assert.deepEqual(other.project.settings, {});
  });

  test('settings are refused, naming the field, and nothing is made: lifetimes above the instance, bad URLs, unknown keys or methods', async () => {
    const { accessTokenTtl, refreshTokenTtl } = identity.config;
    const countBefore = (await identity.bus.request('identity.project.list', {})).projects.length;
    const eventsBefore = changed.length;
    const cases: [unknown, string][] = [
      [{ access_token_ttl: accessTokenTtl + 1 }, 'settings.access_token_ttl'],
      [{ refresh_token_ttl: refreshTokenTtl + 1 }, 'settings.refresh_token_ttl'],
      [{ redirect_allowlist: ['app.example/cb'] }, 'settings.redirect_allowlist.0'],
      [{ redirect_allowlist: ['https://ok.example', 'http://app.example'] }, 'settings.redirect_allowlist.1'],
      [{ redirect_allowlist: ['javascript:alert(1)'] }, 'settings.redirect_allowlist.0'],
      [{ redirect_allowlist: ['https://user:pw@app.example'] }, 'settings.redirect_allowlist.0'],
      [{ redirect_allowlist: ['https://app.example/?next=x'] }, 'settings.redirect_allowlist.0'],
      [{ favourite_colour: 'blue' }, 'settings.favourite_colour'],
      [{ sign_in_methods: ['password', 'sms'] }, 'settings.sign_in_methods.1'],
      [{ sign_in_methods: ['password', 'password'] }, 'settings.sign_in_methods'],
      [{ require_email_verification: 'yes' }, 'settings.require_email_verification'],
      [{ access_token_ttl: 59 }, 'settings.access_token_ttl'],
    ];
    for (const [settings, field] of cases) {
      // Past the bus's own check (the gateway's is the same schema): identity's rules answer.
      const direct = new Projects({
        store: new ProjectsStore(identity.database.db),
        limits: identity.config,
        changed: async () => assert.fail('nothing is written'),
      });
      assert.equal(
        await failedField(direct.create({ name: 'Bad', settings: settings as ProjectSettings })),
        field,
        JSON.stringify(settings),
      );
    }
    // Over the bus: the lifetime rule is identity's (the schema has no instance to compare with).
    const refused = await create('Too long', { access_token_ttl: accessTokenTtl + 1 }).catch((e: unknown) => e);
    assert.ok(refused instanceof AppError && refused.code === 'validation_failed');
    assert.match(refused.message, new RegExp(`settings.access_token_ttl must be at most ${accessTokenTtl}`));
    await rejectsWith(create('   '), 'validation_failed');
    const direct = new Projects({
      store: new ProjectsStore(identity.database.db),
      limits: identity.config,
      changed: async () => assert.fail('nothing is written'),
    });
    assert.equal(await failedField(direct.create({ name: 'x'.repeat(201) })), 'name');
    assert.equal((await identity.bus.request('identity.project.list', {})).projects.length, countBefore);
    assert.equal(changed.length, eventsBefore);
  });

  test('update: a rename; settings merged shallowly, a null removing its key; each write published', async () => {
    const { project } = await create('Merge', { access_token_ttl: 600, sign_in_methods: ['password'] });
    const before = changed.length;
    const renamed = await update(project.id, { name: 'Merged' });
    assert.equal(renamed.project.name, 'Merged');
    assert.deepEqual(renamed.project.settings, { access_token_ttl: 600, sign_in_methods: ['password'] });
    const merged = await update(project.id, {
      settings: { require_email_verification: true, access_token_ttl: null, redirect_allowlist: ['https://a.example'] },
    });
    assert.deepEqual(merged.project.settings, {
      sign_in_methods: ['password'],
      require_email_verification: true,
      redirect_allowlist: ['https://a.example'],
    });
    const replaced = await update(project.id, { settings: { sign_in_methods: ['magic_link', 'guest'] } });
    assert.deepEqual(replaced.project.settings.sign_in_methods, ['magic_link', 'guest']);
    assert.equal(replaced.project.publishable_key, project.publishable_key, 'the keys stay');
    assert.deepEqual((await rowOf(project.id)).settings, replaced.project.settings);
    assert.deepEqual(changed.slice(before), [project.id, project.id, project.id]);
    assert.ok((await rowOf(project.id)).updated_at > (await rowOf(project.id)).created_at);

    // Refused patches change nothing and publish nothing.
    const eventsBefore = changed.length;
    assert.equal(await failedField(update(project.id, { settings: { colour: null } })), 'settings.colour');
    assert.equal(
      await failedField(update(project.id, { settings: { refresh_token_ttl: identity.config.refreshTokenTtl + 1 } })),
      'settings.refresh_token_ttl',
    );
    assert.equal(
      await failedField(update(project.id, { settings: { redirect_allowlist: ['ftp://a.example'] } })),
      'settings.redirect_allowlist.0',
    );
    assert.equal(
      await failedField(update(project.id, { settings: { sign_in_methods: ['carrier_pigeon'] } })),
      'settings.sign_in_methods',
    );
    assert.deepEqual((await rowOf(project.id)).settings, replaced.project.settings);
    assert.equal(changed.length, eventsBefore);
    await rejectsWith(update(newId(), { name: 'Nobody' }), 'not_found');
  });

  test('rotate: both keys new, the old secret hash gone at once, published; the default project gets its first secret', async () => {
    const { project, secret_key } = await create('Rotate');
    const before = changed.length;
    const keys = await identity.bus.request('identity.project.rotate_keys', { project_id: project.id });
    assert.match(keys.publishable_key, PK);
    assert.match(keys.secret_key, SK);
    assert.notEqual(keys.publishable_key, project.publishable_key);
    assert.notEqual(keys.secret_key, secret_key);
    const row = await rowOf(project.id);
    assert.equal(row.publishable_key, keys.publishable_key);
    assert.equal(row.secret_key_hash, apiKeyHash(keys.secret_key));
    const { projects: holders } = await identity.bus.request('identity.project.directory', {});
    assert.ok(!holders.some((p) => p.secret_key_hash === apiKeyHash(secret_key)), 'no project has the old secret');
    assert.ok(!holders.some((p) => p.publishable_key === project.publishable_key), 'nor the old publishable key');
    assert.deepEqual(changed.slice(before), [project.id]);

    const defaultBefore = await rowOf(DEFAULT_PROJECT_ID);
    const first = await identity.bus.request('identity.project.rotate_keys', { project_id: DEFAULT_PROJECT_ID });
    const defaultAfter = await rowOf(DEFAULT_PROJECT_ID);
    assert.notEqual(defaultAfter.publishable_key, defaultBefore.publishable_key);
    assert.equal(defaultAfter.secret_key_hash, apiKeyHash(first.secret_key));
    await rejectsWith(identity.bus.request('identity.project.rotate_keys', { project_id: newId() }), 'not_found');
  });

  test('the directory: every project (or one) with its publishable key, the hash of its secret, never the secret', async () => {
    const { project, secret_key } = await create('Directory', { require_email_verification: true });
    const { projects } = await identity.bus.request('identity.project.directory', {});
    const all = await identity.bus.request('identity.project.list', {});
    assert.deepEqual(
      projects.map((p) => p.id),
      all.projects.map((p) => p.id),
    );
    const entry = projects.find((p) => p.id === project.id);
    assert.deepEqual(entry, {
      id: project.id,
      publishable_key: project.publishable_key,
      secret_key_hash: apiKeyHash(secret_key),
      settings: { require_email_verification: true },
    });
    assert.ok(!JSON.stringify(projects).includes(secret_key.slice(3)), 'the directory never carries a secret');
    const one = await identity.bus.request('identity.project.directory', { project_id: project.id });
    assert.deepEqual(one.projects, [entry]);
    assert.deepEqual((await identity.bus.request('identity.project.directory', { project_id: newId() })).projects, []);
  });
});

describe('a project requiring email verification (identity.user.authenticate)', () => {
  let identity: TestIdentity;
  before(async () => {
    identity = await startTestIdentity({ REQUIRE_EMAIL_VERIFICATION: 'false' });
  });
  after(() => identity?.close());

  const register = async (project_id: string, email: string) =>
    identity.bus.request('identity.user.register', { project_id, email, password: PASSWORD });
  const signIn = (on: TestIdentity, project_id: string, email: string) =>
    on.bus.request('identity.user.authenticate', { project_id, email, password: PASSWORD });

  test("the project's setting decides, the instance's where it has none; a change applies at the next sign-in", async () => {
    const { project } = await identity.bus.request('identity.project.create', {
      name: 'Strict',
      settings: { require_email_verification: true },
    });
    await register(project.id, 'strict@example.test');
    await register(DEFAULT_PROJECT_ID, 'relaxed@example.test');
    await rejectsWith(signIn(identity, project.id, 'strict@example.test'), 'email_not_verified');
    assert.equal((await signIn(identity, DEFAULT_PROJECT_ID, 'relaxed@example.test')).user.email_verified, false);
    // The same address in the default project is another account, under the instance's rule.
    await register(DEFAULT_PROJECT_ID, 'strict@example.test');
    assert.ok(await signIn(identity, DEFAULT_PROJECT_ID, 'strict@example.test'));

    // This replica's own write drops what it kept.
    await identity.bus.request('identity.project.update', {
      project_id: project.id,
      settings: { require_email_verification: null },
    });
    assert.ok(await signIn(identity, project.id, 'strict@example.test'));
    await identity.bus.request('identity.project.update', {
      project_id: DEFAULT_PROJECT_ID,
      settings: { require_email_verification: true },
    });
    await rejectsWith(signIn(identity, DEFAULT_PROJECT_ID, 'relaxed@example.test'), 'email_not_verified');
    await identity.bus.request('identity.project.update', {
      project_id: DEFAULT_PROJECT_ID,
      settings: { require_email_verification: null },
    });
    assert.ok(await signIn(identity, DEFAULT_PROJECT_ID, 'relaxed@example.test'));
  });

  test('a write applies on this replica at once, even when its event is lost (logged, not thrown)', async () => {
    const { project } = await identity.bus.request('identity.project.create', {
      name: 'Lost event',
      settings: { require_email_verification: true },
    });
    await register(project.id, 'lost@example.test');
    await rejectsWith(signIn(identity, project.id, 'lost@example.test'), 'email_not_verified');
    const publish = identity.bus.publish;
    identity.bus.publish = async () => {
      throw new AppError('service_unavailable', 'NATS is unavailable');
    };
    try {
      const { project: changed } = await identity.bus.request('identity.project.update', {
        project_id: project.id,
        settings: { require_email_verification: null },
      });
      assert.deepEqual(changed.settings, {});
      assert.ok(await signIn(identity, project.id, 'lost@example.test'));
    } finally {
      identity.bus.publish = publish;
    }
  });

  test('another replica keeps the settings it read until it hears events.project.changed', async () => {
    // A second identity on the same database with a bus of its own: it hears only what is
    // published on its bus, as a replica that missed, then received, the event over NATS.
    const replica = await startTestIdentity({ REQUIRE_EMAIL_VERIFICATION: 'false' }, identity.database);
    try {
      const { project } = await identity.bus.request('identity.project.create', { name: 'Followed' });
      await register(project.id, 'followed@example.test');
      assert.ok(await signIn(replica, project.id, 'followed@example.test'), 'read and kept: no setting');
      await identity.bus.request('identity.project.update', {
        project_id: project.id,
        settings: { require_email_verification: true },
      });
      assert.ok(await signIn(replica, project.id, 'followed@example.test'), 'not heard yet: the kept settings');
      await rejectsWith(signIn(identity, project.id, 'followed@example.test'), 'email_not_verified');
      await replica.bus.publish('events.project.changed', { v: 1, project_id: project.id });
      await rejectsWith(signIn(replica, project.id, 'followed@example.test'), 'email_not_verified');
    } finally {
      await replica.close();
    }
  });
});
