import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { adminToken } from './admin-scenarios.ts';
import { type Client, client, type Res, uniqueEmail } from './client.ts';
import { linkIn, type Mailbox, withLink } from './mailbox.ts';

const PASSWORD = 'correct horse battery';

function isError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
}

/** A request with `X-API-Key`, as a script would send it. */
async function withKey(base: string, key: string, method = 'GET', path = '/auth/me', body?: unknown): Promise<Res> {
  const res = await fetch(base + path, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
}

async function userWithKey(
  base: string,
  tag: string,
): Promise<{ c: Client; id: string; email: string; access: string; key: string; keyId: string }> {
  const c = client(base);
  const email = uniqueEmail(tag);
  const reg = await c.post('/auth/register', { email, password: PASSWORD });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const access = reg.body.access_token as string;
  const made = await c.post('/auth/api-keys', { name: `${tag} key` }, access);
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return {
    c,
    email,
    access,
    id: (reg.body.user as { id: string }).id,
    key: made.body.key as string,
    keyId: made.body.id as string,
  };
}

/**
 * User API keys over HTTP. Keys are made and revoked through `base`, and used
 * through `other` (another gateway replica in the stack), where the key is
 * already in memory: a revocation must reach it at once.
 */
export function apiKeyScenarios(name: string, base: () => string, other: () => string, mailbox: () => Mailbox): void {
  describe(`${name}: user API keys`, () => {
    test('a key is shown once and acts as its user, on any replica; the list shows its prefix only', async () => {
      const u = await userWithKey(base(), 'keyed');
      assert.match(u.key, /^uk_/);
      const me = await withKey(other(), u.key);
      assert.equal(me.status, 200, JSON.stringify(me.body));
      assert.equal(me.body.id, u.id);
      assert.equal((await client(other()).get('/auth/me', u.key)).status, 200, 'as a bearer credential too');
      const list = await u.c.get('/auth/api-keys', u.access);
      const [listed] = list.body.api_keys as Record<string, unknown>[];
      assert.equal(listed?.id, u.keyId);
      assert.equal(listed?.prefix, u.key.slice(0, 11));
      assert.ok(!JSON.stringify(list.body).includes(u.key), 'the key is not shown again');
      // A profile change by key works; a second factor, another key or deleting the account does not.
      assert.equal((await withKey(other(), u.key, 'PATCH', '/auth/me', { name: 'Scripted' })).body.name, 'Scripted');
      isError(await withKey(other(), u.key, 'POST', '/auth/api-keys', { name: 'more' }), 403, 'forbidden');
      isError(await withKey(other(), u.key, 'POST', '/auth/mfa/totp/setup', {}), 403, 'forbidden');
      isError(await withKey(other(), u.key, 'DELETE', '/auth/me', { password: PASSWORD }), 403, 'forbidden');
      isError(await withKey(other(), 'uk_not-a-key'), 401, 'unauthorized');
    });

    test('revoked at one replica, refused at the other at once', async () => {
      const u = await userWithKey(base(), 'revoked');
      assert.equal((await withKey(other(), u.key)).status, 200);
      assert.equal((await u.c.del(`/auth/api-keys/${u.keyId}`, u.access)).status, 204);
      isError(await withKey(other(), u.key), 401, 'unauthorized');
      isError(await withKey(base(), u.key), 401, 'unauthorized');
      assert.deepEqual((await u.c.get('/auth/api-keys', u.access)).body, { api_keys: [] });
      isError(await u.c.del(`/auth/api-keys/${u.keyId}`, u.access), 404, 'not_found');
    });

    test('a ban refuses the key at once; lifting it lets the key work again', async () => {
      const u = await userWithKey(base(), 'banned-key');
      assert.equal((await withKey(other(), u.key)).status, 200);
      const admin = await adminToken(base());
      assert.equal((await client(base()).patch(`/admin/users/${u.id}`, { banned: true }, admin)).status, 200);
      isError(await withKey(other(), u.key), 401, 'unauthorized');
      assert.equal((await client(base()).patch(`/admin/users/${u.id}`, { banned: false }, admin)).status, 200);
      assert.equal((await withKey(other(), u.key)).status, 200);
    });

    test('logout-all leaves keys working; a password reset revokes them', async () => {
      const u = await userWithKey(base(), 'reset-key');
      assert.equal((await u.c.post('/auth/logout-all', {}, u.access)).status, 200);
      assert.equal((await withKey(other(), u.key)).status, 200, 'signing out browsers does not break scripts');
      assert.equal((await client(base()).post('/auth/password/forgot', { email: u.email })).status, 202);
      const mail = await mailbox().waitFor(u.email, 1, withLink('reset_password'));
      const token = linkIn(mail.text).searchParams.get('token');
      assert.equal(
        (await client(base()).post('/auth/password/reset', { token, password: 'a brand new passphrase' })).status,
        204,
      );
      isError(await withKey(other(), u.key), 401, 'unauthorized');
    });

    test('guests cannot create keys; nobody without a token can', async () => {
      const guest = await client(base()).post('/auth/guest', {});
      isError(
        await client(base()).post('/auth/api-keys', { name: 'g' }, guest.body.access_token as string),
        403,
        'forbidden',
      );
      isError(await client(base()).post('/auth/api-keys', { name: 'anon' }), 401, 'unauthorized');
    });
  });
}
