// The instance admin's project routes over inject(), with a stand-in identity: who may call them
// (a signed-in admin of the default project only), what reaches identity, where the secret key
// appears (the create and rotate answers only), and what is refused before identity is asked.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID, type Project } from '@gatehouse/contracts';
import {
  AppError,
  apiKeyHash,
  Bus,
  createLogger,
  InProcessTransport,
  loadConfig,
  newApiKey,
  newProjectKeys,
} from '@gatehouse/kit';
import { RecordingAuditSink } from '@gatehouse/kit/testing';
import { type StandIns, withGateway } from '../app.test-support.ts';
import { buildGateway, MemoryRateLimitStore } from '../app.ts';

const PROJECT_ID = randomUUID();
const CREATED_AT = new Date().toISOString();
const keys = newProjectKeys();
const project: Project = {
  id: PROJECT_ID,
  name: 'Shop',
  publishable_key: keys.publishable_key,
  settings: { access_token_ttl: 300 },
  created_at: CREATED_AT,
};
const rotated = newProjectKeys();
const ADMIN_KEY = newApiKey().key;

const standIns: StandIns = {
  'identity.project.create': async (m) => ({
    project: { ...project, name: m.name, settings: m.settings ?? {} },
    secret_key: keys.secret_key,
  }),
  // As if identity leaked more than the contract says: the route's schema must keep it in.
  'identity.project.list': async () => ({
    projects: [{ ...project, secret_key: keys.secret_key, secret_key_hash: apiKeyHash(keys.secret_key) } as Project],
  }),
  'identity.project.update': async (m) => {
    if (m.project_id !== PROJECT_ID) throw new AppError('not_found', 'no such project');
    if (m.settings && 'access_token_ttl' in m.settings && Number(m.settings.access_token_ttl) > 900) {
      throw new AppError('validation_failed', 'settings.access_token_ttl must be at most 900', {
        details: [{ field: 'settings.access_token_ttl', message: 'must be at most 900' }],
      });
    }
    return { project: { ...project, ...(m.name ? { name: m.name } : {}) } };
  },
  'identity.project.rotate_keys': async (m) => {
    if (m.project_id !== PROJECT_ID) throw new AppError('not_found', 'no such project');
    return rotated;
  },
  // What the gateway reloads after a change: the project with its new keys.
  'identity.project.directory': async (m) => ({
    projects:
      m.project_id === PROJECT_ID
        ? [
            {
              id: PROJECT_ID,
              publishable_key: rotated.publishable_key,
              secret_key_hash: apiKeyHash(rotated.secret_key),
              settings: {},
            },
          ]
        : [],
  }),
  // An admin's user API key of the default project: an admin, but not signed in.
  'identity.api_key.verify': async () => ({
    key_id: randomUUID(),
    project_id: DEFAULT_PROJECT_ID,
    user_id: randomUUID(),
    role: 'admin',
    expires_at: null,
  }),
};

const ROUTES: { method: 'GET' | 'POST' | 'PATCH'; url: string; payload?: object }[] = [
  { method: 'POST', url: '/admin/projects', payload: { name: 'Shop' } },
  { method: 'GET', url: '/admin/projects' },
  { method: 'PATCH', url: `/admin/projects/${PROJECT_ID}`, payload: { name: 'Renamed' } },
  { method: 'POST', url: `/admin/projects/${PROJECT_ID}/keys/rotate` },
];
const PROJECT_SUBJECTS = [
  'identity.project.create',
  'identity.project.list',
  'identity.project.update',
  'identity.project.rotate_keys',
];

describe('admin project routes', () => {
  test('401 without credentials; 403 for a user, a guest and an admin API key; identity is never asked', async () => {
    await withGateway(standIns, async (gw) => {
      const user = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'user' });
      const guest = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'guest' });
      for (const route of ROUTES) {
        const anonymous = await gw.app.inject(route);
        assert.equal(anonymous.statusCode, 401, `${route.method} ${route.url}`);
        assert.equal(anonymous.json().error, 'unauthorized');
        for (const headers of [
          { authorization: `Bearer ${user}` },
          { authorization: `Bearer ${guest}` },
          { 'x-api-key': ADMIN_KEY },
          { authorization: `Bearer ${ADMIN_KEY}` },
        ]) {
          const res = await gw.app.inject({ ...route, headers });
          assert.equal(res.statusCode, 403, `${route.method} ${route.url} ${JSON.stringify(headers).slice(0, 30)}`);
          assert.equal(res.json().error, 'forbidden');
        }
      }
      // The same admin key is an admin on the project's own admin API: refused here as not signed in.
      assert.equal(gw.callsTo('identity.api_key.verify').length, 1, 'the key was verified, then kept');
      assert.deepEqual(
        gw.calls.filter((c) => PROJECT_SUBJECTS.includes(c.subject)),
        [],
      );
    });
  });

  test("a project's secret key (the default project's too) is an admin of its project, not the instance admin", async () => {
    const log = createLogger({ service: 'test', level: 'silent' });
    const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 500 });
    const asked: string[] = [];
    bus.serve('identity.admin.user.list', async () => {
      asked.push('identity.admin.user.list');
      return { users: [], next_cursor: null };
    });
    bus.serve('identity.project.list', async () => {
      asked.push('identity.project.list');
      return { projects: [] };
    });
    const gateway = await buildGateway({
      bus,
      log,
      config: loadConfig({}),
      rateLimitStore: new MemoryRateLimitStore(),
      audit: new RecordingAuditSink(),
    });
    try {
      const defaultKeys = newProjectKeys();
      gateway.projects.put({
        id: DEFAULT_PROJECT_ID,
        publishable_key: defaultKeys.publishable_key,
        secret_key_hash: apiKeyHash(defaultKeys.secret_key),
        settings: {},
      });
      const headers = { 'x-api-key': defaultKeys.secret_key };
      const users = await gateway.app.inject({ method: 'GET', url: '/admin/users', headers });
      assert.equal(users.statusCode, 200, 'the key works as its project admin');
      const listed = await gateway.app.inject({ method: 'GET', url: '/admin/projects', headers });
      assert.equal(listed.statusCode, 403);
      assert.equal(listed.json().error, 'forbidden');
      assert.deepEqual(asked, ['identity.admin.user.list']);
    } finally {
      await gateway.app.close();
    }
  });

  test('create: 201 with the secret key, the body passed on as given; list and patch never carry a secret', async () => {
    await withGateway(standIns, async (gw) => {
      const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
      const headers = { authorization: `Bearer ${admin}` };
      const settings = {
        access_token_ttl: 300,
        require_email_verification: true,
        redirect_allowlist: ['https://shop.example/auth/'],
        sign_in_methods: ['password', 'passkey'],
      };
      const created = await gw.app.inject({
        method: 'POST',
        url: '/admin/projects',
        headers,
        payload: { name: 'Shop', settings },
      });
      assert.equal(created.statusCode, 201);
      assert.deepEqual(created.json(), { ...project, settings, secret_key: keys.secret_key });
      await gw.app.inject({ method: 'POST', url: '/admin/projects', headers, payload: { name: 'Bare' } });
      assert.deepEqual(gw.callsTo('identity.project.create'), [{ name: 'Shop', settings }, { name: 'Bare' }]);

      const listed = await gw.app.inject({ method: 'GET', url: '/admin/projects', headers });
      assert.equal(listed.statusCode, 200);
      assert.deepEqual(listed.json(), { projects: [project] });
      assert.ok(!listed.body.includes(keys.secret_key) && !listed.body.includes(apiKeyHash(keys.secret_key)));
      assert.deepEqual(gw.callsTo('identity.project.list'), [{}]);

      const patched = await gw.app.inject({
        method: 'PATCH',
        url: `/admin/projects/${PROJECT_ID}`,
        headers,
        payload: { name: 'Renamed', settings: { access_token_ttl: null, sign_in_methods: ['magic_link'] } },
      });
      assert.equal(patched.statusCode, 200);
      assert.deepEqual(patched.json(), { ...project, name: 'Renamed' });
      assert.ok(!patched.body.includes('secret'));
      await gw.app.inject({
        method: 'PATCH',
        url: `/admin/projects/${PROJECT_ID}`,
        headers,
        payload: { settings: {} },
      });
      assert.deepEqual(gw.callsTo('identity.project.update'), [
        {
          project_id: PROJECT_ID,
          name: 'Renamed',
          settings: { access_token_ttl: null, sign_in_methods: ['magic_link'] },
        },
        { project_id: PROJECT_ID, settings: {} },
      ]);
    });
  });

  test('rotate: 200 with the new pair, with or without an empty body; unknown project 404', async () => {
    await withGateway(standIns, async (gw) => {
      const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
      const headers = { authorization: `Bearer ${admin}` };
      const url = `/admin/projects/${PROJECT_ID}/keys/rotate`;
      const res = await gw.app.inject({ method: 'POST', url, headers });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), rotated);
      assert.equal((await gw.app.inject({ method: 'POST', url, headers, payload: {} })).statusCode, 200);
      assert.deepEqual(gw.callsTo('identity.project.rotate_keys'), [
        { project_id: PROJECT_ID },
        { project_id: PROJECT_ID },
      ]);
      const extra = await gw.app.inject({ method: 'POST', url, headers, payload: { publishable_key: 'pk_mine' } });
      assert.equal(extra.statusCode, 400);
      const unknown = await gw.app.inject({
        method: 'POST',
        url: `/admin/projects/${randomUUID()}/keys/rotate`,
        headers,
      });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().error, 'not_found');
      const patchUnknown = await gw.app.inject({
        method: 'PATCH',
        url: `/admin/projects/${randomUUID()}`,
        headers,
        payload: { name: 'x' },
      });
      assert.equal(patchUnknown.statusCode, 404);
    });
  });

  test('after a rotate this replica knows the new keys before it answers, and the old secret is gone', async () => {
    await withGateway(
      { ...standIns, 'identity.admin.user.list': async () => ({ users: [], next_cursor: null }) },
      async (gw) => {
        gw.projects.put({
          id: PROJECT_ID,
          publishable_key: keys.publishable_key,
          secret_key_hash: apiKeyHash(keys.secret_key),
          settings: {},
        });
        const withKey = (key: string) =>
          gw.app.inject({ method: 'GET', url: '/admin/users', headers: { 'x-api-key': key } });
        assert.equal((await withKey(keys.secret_key)).statusCode, 200);
        const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
        const url = `/admin/projects/${PROJECT_ID}/keys/rotate`;
        await gw.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${admin}` } });
        assert.equal((await withKey(keys.secret_key)).statusCode, 401);
        assert.equal((await withKey(rotated.secret_key)).statusCode, 200);
      },
    );
  });

  test('validation: bad bodies are 400 before identity is asked; identity refusals are passed on naming the field', async () => {
    await withGateway(standIns, async (gw) => {
      const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
      const headers = { authorization: `Bearer ${admin}` };
      const bad: { method: 'POST' | 'PATCH'; url: string; payload: object; field: string }[] = [
        { method: 'POST', url: '/admin/projects', payload: {}, field: 'name' },
        { method: 'POST', url: '/admin/projects', payload: { name: '' }, field: 'name' },
        { method: 'POST', url: '/admin/projects', payload: { name: 'x', owner: 'me' }, field: 'owner' },
        {
          method: 'POST',
          url: '/admin/projects',
          payload: { name: 'x', settings: { colour: 'blue' } },
          field: 'settings.colour',
        },
        {
          method: 'POST',
          url: '/admin/projects',
          payload: { name: 'x', settings: { sign_in_methods: ['sms'] } },
          field: 'settings.sign_in_methods.0',
        },
        {
          method: 'POST',
          url: '/admin/projects',
          payload: { name: 'x', settings: { access_token_ttl: 10 } },
          field: 'settings.access_token_ttl',
        },
        {
          method: 'PATCH',
          url: `/admin/projects/${PROJECT_ID}`,
          payload: { settings: { colour: null } },
          field: 'settings.colour',
        },
        {
          method: 'PATCH',
          url: `/admin/projects/${PROJECT_ID}`,
          payload: { publishable_key: 'pk_x' },
          field: 'publishable_key',
        },
      ];
      for (const { method, url, payload, field } of bad) {
        const res = await gw.app.inject({ method, url, headers, payload });
        assert.equal(res.statusCode, 400, JSON.stringify(payload));
        const body = res.json();
        assert.equal(body.error, 'validation_failed');
        assert.ok(
          body.details.some((d: { field: string }) => d.field === field),
          `${JSON.stringify(payload)}: ${JSON.stringify(body.details)}`,
        );
      }
      const malformed = await gw.app.inject({
        method: 'PATCH',
        url: '/admin/projects/not-a-uuid',
        headers,
        payload: {},
      });
      assert.equal(malformed.statusCode, 400);
      assert.deepEqual(
        gw.calls.filter((c) => PROJECT_SUBJECTS.includes(c.subject)),
        [],
      );

      const tooLong = await gw.app.inject({
        method: 'PATCH',
        url: `/admin/projects/${PROJECT_ID}`,
        headers,
        payload: { settings: { access_token_ttl: 3600 } },
      });
      assert.equal(tooLong.statusCode, 400);
      assert.deepEqual(tooLong.json().details, [
        { field: 'settings.access_token_ttl', message: 'must be at most 900' },
      ]);
    });
  });
});
