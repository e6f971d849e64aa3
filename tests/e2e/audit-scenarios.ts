import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { adminToken } from './admin-scenarios.ts';
import { claimsOf, client, eventually, type Res, uniqueEmail } from './client.ts';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';

/** An event as GET /admin/audit answers it. */
export interface AuditView {
  id: string;
  type: string;
  user_id: string | null;
  actor_id: string | null;
  ip: string | null;
  user_agent: string | null;
  at: string;
  data: Record<string, unknown>;
}

/** The events of `userId` through the admin API of `base`, newest first (one page of 100). */
export async function auditOf(base: string, token: string, query: string): Promise<AuditView[]> {
  const res = await client(base).get(`/admin/audit?${query}`, token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.events as AuditView[];
}

/**
 * Polls (at most `ms`) until the audit log of `userId` holds every type in `types`
 * (events travel through the audit queue in batches), and returns its events.
 */
export async function auditEventually(
  base: string,
  token: string,
  userId: string,
  types: string[],
  ms = 15_000,
): Promise<AuditView[]> {
  let events: AuditView[] = [];
  await eventually(async () => {
    events = await auditOf(base, token, `user_id=${userId}&limit=100`);
    return types.every((t) => events.some((e) => e.type === t));
  }, ms).catch(() => {
    assert.fail(`audit log of ${userId}: wanted ${types.join(', ')}, got ${events.map((e) => e.type).join(', ')}`);
  });
  return events;
}

const isError = (res: Res, status: number, code: string) => {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
};

/**
 * The audit log over HTTP: what a user and an admin do through `base` is read
 * back through `other` (another gateway replica in the stack), with the
 * address (X-Forwarded-For) and the user agent it was done from, and none of
 * the credentials used.
 */
export function auditScenarios(name: string, base: () => string, other: () => string): void {
  describe(`${name}: the audit log`, () => {
    test('GET /admin/audit: 401 without credentials, 403 for a user', async () => {
      isError(await client(base()).get('/admin/audit'), 401, 'unauthorized');
      const reg = await client(base()).post('/auth/register', { email: uniqueEmail('aud'), password: PASSWORD });
      assert.equal(reg.status, 201);
      isError(await client(base()).get('/admin/audit', reg.body.access_token as string), 403, 'forbidden');
    });

    test('sign-ins, a password change, an API key and a ban are recorded with their address and agent, and no secret', async () => {
      const agent = `audit-e2e/${randomUUID().slice(0, 8)}`;
      const c = client(base(), { userAgent: agent });
      const email = uniqueEmail('audited');
      const reg = await c.post('/auth/register', { email, password: PASSWORD });
      assert.equal(reg.status, 201, JSON.stringify(reg.body));
      const userId = (reg.body.user as { id: string }).id;
      const wrongGuess = `wrong guess ${randomUUID()}`;
      isError(await c.post('/auth/login', { email, password: wrongGuess }), 401, 'invalid_credentials');
      const login = await c.post('/auth/login', { email, password: PASSWORD });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      const access = login.body.access_token as string;
      const changed = await c.post(
        '/auth/password/change',
        { current_password: PASSWORD, new_password: NEW_PASSWORD },
        access,
      );
      assert.equal(changed.status, 204, JSON.stringify(changed.body));
      const made = await c.post('/auth/api-keys', { name: 'audited key' }, access);
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const key = made.body.key as string;
      const keyId = made.body.id as string;
      assert.equal((await c.del(`/auth/api-keys/${keyId}`, access)).status, 204);

      const adminAgent = `audit-admin/${randomUUID().slice(0, 8)}`;
      const admin = client(base(), { userAgent: adminAgent });
      const token = await adminToken(base());
      const adminId = claimsOf(token).sub as string;
      const ban = await admin.patch(`/admin/users/${userId}`, { banned: true }, token);
      assert.equal(ban.status, 200, JSON.stringify(ban.body));

      const events = await auditEventually(other(), token, userId, [
        'sign_in.succeeded',
        'sign_in.failed',
        'password.changed',
        'api_key.created',
        'api_key.revoked',
        'admin.user_updated',
      ]);
      const one = (type: string) => {
        const found = events.filter((e) => e.type === type);
        assert.ok(found.length >= 1, type);
        return found[0] as AuditView;
      };
      const mine = events.filter((e) => e.type !== 'admin.user_updated');
      for (const e of mine) {
        assert.equal(e.ip, c.ip, `${e.type} from the client's X-Forwarded-For`);
        assert.equal(e.user_agent, agent, `${e.type} with the client's user agent`);
        assert.equal(e.user_id, userId);
        assert.equal(e.actor_id, null);
        assert.ok(Date.now() - Date.parse(e.at) < 120_000, `${e.type} at ${e.at}`);
      }
      assert.equal(events.filter((e) => e.type === 'sign_in.succeeded').length, 2, 'the sign-up and the sign-in');
      assert.deepEqual(one('sign_in.succeeded').data, { method: 'password' });
      assert.deepEqual(one('sign_in.failed').data, { method: 'password', reason: 'invalid_credentials' });
      assert.deepEqual(one('api_key.created').data, { key_id: keyId });
      assert.deepEqual(one('api_key.revoked').data, { key_id: keyId });
      const banned = one('admin.user_updated');
      assert.equal(banned.actor_id, adminId);
      assert.equal(banned.ip, admin.ip);
      assert.equal(banned.user_agent, adminAgent);
      assert.deepEqual(banned.data, { changes: ['banned'], banned: true });
      // Newest first.
      const times = events.map((e) => Date.parse(e.at));
      assert.deepEqual(
        [...times].sort((a, b) => b - a),
        times,
      );

      const json = JSON.stringify(events);
      const secrets = [
        PASSWORD,
        NEW_PASSWORD,
        wrongGuess,
        email,
        key,
        made.body.prefix as string,
        access,
        login.body.refresh_token as string,
        reg.body.access_token as string,
        reg.body.refresh_token as string,
        token,
      ];
      for (const secret of secrets) assert.ok(!json.includes(secret), `the audit log holds ${secret.slice(0, 12)}...`);
    });

    test("a refresh token replayed after the grace window is recorded as reused, from the replayer's address", async () => {
      const owner = client(base());
      const reg = await owner.post('/auth/register', { email: uniqueEmail('replayed'), password: PASSWORD });
      assert.equal(reg.status, 201);
      const userId = (reg.body.user as { id: string }).id;
      const first = reg.body.refresh_token as string;
      const rotated = await owner.post('/auth/refresh', { refresh_token: first });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      await new Promise((r) => setTimeout(r, 2_200)); // past REFRESH_REUSE_INTERVAL (2 s in TEST_SERVER_ENV)
      const thief = client(base(), { userAgent: 'replayer/1.0' });
      isError(await thief.post('/auth/refresh', { refresh_token: first }), 401, 'invalid_grant');
      const events = await auditEventually(other(), await adminToken(base()), userId, ['refresh_token.reused']);
      const reused = events.find((e) => e.type === 'refresh_token.reused') as AuditView;
      assert.equal(reused.ip, thief.ip);
      assert.equal(reused.user_agent, 'replayer/1.0');
      assert.deepEqual(reused.data, { session_id: claimsOf(reg.body.access_token as string).sid, cause: 'replayed' });
      const json = JSON.stringify(events);
      assert.ok(!json.includes(first) && !json.includes(rotated.body.refresh_token as string));
    });

    test('filters by type and time, and pages by cursor', async () => {
      const c = client(base());
      const email = uniqueEmail('paged');
      const reg = await c.post('/auth/register', { email, password: PASSWORD });
      const userId = (reg.body.user as { id: string }).id;
      for (let i = 0; i < 3; i++)
        isError(await c.post('/auth/login', { email, password: 'nope nope' }), 401, 'invalid_credentials');
      const token = await adminToken(base());
      await eventually(
        async () => (await auditOf(other(), token, `user_id=${userId}&type=sign_in.failed`)).length >= 3,
        15_000,
      );
      const failed = await auditOf(other(), token, `user_id=${userId}&type=sign_in.failed`);
      assert.equal(failed.length, 3);
      assert.ok(failed.every((e) => e.type === 'sign_in.failed'));
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const res = await client(other()).get(
          `/admin/audit?user_id=${userId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          token,
        );
        assert.equal(res.status, 200, JSON.stringify(res.body));
        seen.push(...(res.body.events as AuditView[]).map((e) => e.id));
        cursor = res.body.next_cursor as string | null;
        if (cursor === null) break;
      }
      assert.equal(seen.length, 4, 'the sign-up and three failures');
      assert.equal(new Set(seen).size, 4);
      const future = new Date(Date.now() + 3_600_000).toISOString();
      assert.deepEqual(await auditOf(other(), token, `user_id=${userId}&since=${future}`), []);
      const past = new Date(Date.now() - 3_600_000).toISOString();
      assert.equal((await auditOf(other(), token, `user_id=${userId}&since=${past}&until=${future}`)).length, 4);
    });
  });
}
