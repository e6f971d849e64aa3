import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { adminToken } from './admin-scenarios.ts';
import { claimsOf, type Res, uniqueEmail } from './client.ts';
import { linkIn, type Mailbox, withLink } from './mailbox.ts';

const PASSWORD = 'correct horse battery';
const rnd = () => Math.floor(Math.random() * 250) + 1;

function isError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
}

/** A client that names a project with `X-API-Key` (a publishable or secret key), or none. */
function as(base: string, key?: string) {
  const ip = `10.${rnd()}.${rnd()}.${rnd()}`;
  async function call(method: string, path: string, body?: unknown, token?: string): Promise<Res> {
    const headers: Record<string, string> = { 'x-forwarded-for': ip };
    if (key) headers['x-api-key'] = key;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
  }
  return {
    get: (path: string, token?: string) => call('GET', path, undefined, token),
    post: (path: string, body?: unknown, token?: string) => call('POST', path, body, token),
    patch: (path: string, body: unknown, token?: string) => call('PATCH', path, body, token),
    del: (path: string, token?: string) => call('DELETE', path, undefined, token),
  };
}

interface Created {
  id: string;
  publishable_key: string;
  secret_key: string;
}

async function newProject(base: string, settings: Record<string, unknown> = {}): Promise<Created> {
  const res = await as(base).post('/admin/projects', { name: `p-${rnd()}`, settings }, await adminToken(base));
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.match(res.body.publishable_key as string, /^pk_/);
  assert.match(res.body.secret_key as string, /^sk_/);
  return res.body as unknown as Created;
}

/**
 * Two projects on one instance, over HTTP. Changes go through `base`, and
 * their effect is checked through `other` (another gateway replica in the stack).
 */
export function projectScenarios(name: string, base: () => string, other: () => string, mailbox: () => Mailbox): void {
  describe(`${name}: projects`, () => {
    test('the instance admin creates a project; its secret is shown once; others may not', async () => {
      const shop = await newProject(base());
      const list = await as(base()).get('/admin/projects', await adminToken(base()));
      assert.equal(list.status, 200);
      const listed = (list.body.projects as Record<string, unknown>[]).find((p) => p.id === shop.id);
      assert.equal(listed?.publishable_key, shop.publishable_key);
      assert.ok(!JSON.stringify(list.body).includes(shop.secret_key), 'the secret key is not shown again');
      // Its secret key is that project's admin, not the instance's.
      isError(await as(base(), shop.secret_key).get('/admin/projects'), 403, 'forbidden');
      const plain = await as(base()).post('/auth/register', { email: uniqueEmail('plain'), password: PASSWORD });
      isError(await as(base()).get('/admin/projects', plain.body.access_token as string), 403, 'forbidden');
      isError(await as(base()).get('/admin/projects'), 401, 'unauthorized');
    });

    test('fully isolated: the same email twice, and no token, session, user or key of one works in the other', async () => {
      const shop = await newProject(base());
      const email = uniqueEmail('twice');
      const inDefault = await as(base()).post('/auth/register', { email, password: PASSWORD });
      const inShop = await as(base(), shop.publishable_key).post('/auth/register', {
        email,
        password: 'another passphrase',
      });
      assert.equal(inDefault.status, 201);
      assert.equal(inShop.status, 201, JSON.stringify(inShop.body));
      const shopUser = inShop.body.user as { id: string };
      assert.notEqual(shopUser.id, (inDefault.body.user as { id: string }).id);
      const shopAccess = inShop.body.access_token as string;
      assert.equal(claimsOf(shopAccess).aud, shop.id, 'the token names its project');
      // Each password opens its own project's account only.
      isError(
        await as(base()).post('/auth/login', { email, password: 'another passphrase' }),
        401,
        'invalid_credentials',
      );
      assert.equal(
        (await as(other(), shop.publishable_key).post('/auth/login', { email, password: 'another passphrase' })).status,
        200,
      );
      // Tokens: refused on a request that names another project.
      isError(await as(other()).get('/auth/me', shopAccess), 401, 'unauthorized');
      isError(
        await as(other(), shop.publishable_key).get('/auth/me', inDefault.body.access_token as string),
        401,
        'unauthorized',
      );
      assert.equal((await as(other(), shop.publishable_key).get('/auth/me', shopAccess)).body.id, shopUser.id);
      // A refresh token of the shop does nothing without its project, and still works with it.
      isError(
        await as(base()).post('/auth/refresh', { refresh_token: inShop.body.refresh_token }),
        401,
        'invalid_grant',
      );
      assert.equal(
        (await as(base(), shop.publishable_key).post('/auth/refresh', { refresh_token: inShop.body.refresh_token }))
          .status,
        200,
      );
      // A session id of the shop cannot be revoked from the default project.
      const sid = claimsOf(shopAccess).sid as string;
      isError(await as(base()).del(`/auth/sessions/${sid}`, inDefault.body.access_token as string), 404, 'not_found');
      // User ids: the default admin does not find the shop's user; the shop's secret key does.
      isError(await as(base()).get(`/admin/users/${shopUser.id}`, await adminToken(base())), 404, 'not_found');
      const bySecret = await as(other(), shop.secret_key).get(`/admin/users/${shopUser.id}`);
      assert.equal(bySecret.status, 200, JSON.stringify(bySecret.body));
      const shopUsers = await as(other(), shop.secret_key).get('/admin/users');
      assert.deepEqual(
        (shopUsers.body.users as { id: string }[]).map((u) => u.id),
        [shopUser.id],
        'the secret key sees its own project only',
      );
      // An API key of the shop's user, on a request that names the default project.
      const made = await as(base(), shop.publishable_key).post('/auth/api-keys', { name: 'k' }, shopAccess);
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const defaultKey = (
        (await as(base()).get('/admin/projects', await adminToken(base()))).body.projects as {
          id: string;
          publishable_key: string;
        }[]
      ).find((p) => p.id === '00000000-0000-7000-8000-000000000001')?.publishable_key as string;
      isError(await as(other(), defaultKey).get('/auth/me', made.body.key as string), 401, 'unauthorized');
      assert.equal((await as(other(), made.body.key as string).get('/auth/me')).body.id, shopUser.id);
    });

    test("one-time tokens: a shop's reset link names its project, and does nothing in another", async () => {
      const shop = await newProject(base());
      const email = uniqueEmail('reset');
      await as(base(), shop.publishable_key).post('/auth/register', { email, password: PASSWORD });
      assert.equal((await as(base(), shop.publishable_key).post('/auth/password/forgot', { email })).status, 202);
      const mail = await mailbox().waitFor(email, 1, withLink('reset_password'));
      const link = linkIn(mail.text);
      assert.equal(link.searchParams.get('project'), shop.publishable_key, 'the confirm page will name the project');
      const token = link.searchParams.get('token');
      isError(
        await as(base()).post('/auth/password/reset', { token, password: 'a brand new passphrase' }),
        400,
        'invalid_token',
      );
      assert.equal(
        (
          await as(other(), shop.publishable_key).post('/auth/password/reset', {
            token,
            password: 'a brand new passphrase',
          })
        ).status,
        204,
      );
    });

    test('rotating the keys kills the old secret and publishable keys at once, on every replica', async () => {
      const shop = await newProject(base());
      assert.equal((await as(other(), shop.secret_key).get('/admin/users')).status, 200);
      const rotated = await as(base()).post(`/admin/projects/${shop.id}/keys/rotate`, {}, await adminToken(base()));
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      for (const gateway of [base(), other()]) {
        isError(await as(gateway, shop.secret_key).get('/admin/users'), 401, 'unauthorized');
        isError(await as(gateway, shop.publishable_key).post('/auth/guest', {}), 401, 'unauthorized');
      }
      assert.equal((await as(other(), rotated.body.secret_key as string).get('/admin/users')).status, 200);
      assert.equal((await as(other(), rotated.body.publishable_key as string).post('/auth/guest', {})).status, 201);
    });

    test("a project's settings replace the instance's: sign-in methods, email verification, lifetimes", async () => {
      const shop = await newProject(base(), {
        sign_in_methods: ['password', 'magic_link'],
        require_email_verification: true,
        access_token_ttl: 120,
      });
      const pk = shop.publishable_key;
      isError(await as(other(), pk).post('/auth/guest', {}), 403, 'forbidden');
      assert.equal((await as(other()).post('/auth/guest', {})).status, 201, 'the default project keeps guests');
      const email = uniqueEmail('unverified');
      const reg = await as(base(), pk).post('/auth/register', { email, password: PASSWORD });
      assert.equal(reg.status, 201, JSON.stringify(reg.body));
      assert.equal(reg.body.expires_in, 120);
      isError(await as(other(), pk).post('/auth/login', { email, password: PASSWORD }), 403, 'email_not_verified');
      // A change applies on every replica at once.
      const patched = await as(base()).patch(
        `/admin/projects/${shop.id}`,
        { settings: { require_email_verification: null, sign_in_methods: null } },
        await adminToken(base()),
      );
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal((await as(other(), pk).post('/auth/login', { email, password: PASSWORD })).status, 200);
      assert.equal((await as(other(), pk).post('/auth/guest', {})).status, 201);
      isError(
        await as(base()).patch(
          `/admin/projects/${shop.id}`,
          { settings: { access_token_ttl: 999_999 } },
          await adminToken(base()),
        ),
        400,
        'validation_failed',
      );
    });
  });
}
