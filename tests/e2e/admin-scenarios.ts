import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Client, claimsOf, client, type Res, uniqueEmail } from './client.ts';
import { linkIn, type Mailbox, withLink } from './mailbox.ts';

/** The first admin, made by the server at its first start. */
export const ADMIN_SERVER_ENV = {
  ADMIN_EMAIL: 'root-admin@example.com',
  ADMIN_PASSWORD: 'the first admin passphrase',
};
const PASSWORD = 'correct horse battery';

function isError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
  assert.equal(typeof res.body.message, 'string');
}

/** The first admin's access token, through `base`. */
export async function adminToken(base: string): Promise<string> {
  const res = await client(base).post('/auth/login', {
    email: ADMIN_SERVER_ENV.ADMIN_EMAIL,
    password: ADMIN_SERVER_ENV.ADMIN_PASSWORD,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.access_token as string;
}

/** Bans `userId` through the admin API of `base`. */
export async function adminBan(base: string, userId: string): Promise<void> {
  const res = await client(base).patch(`/admin/users/${userId}`, { banned: true }, await adminToken(base));
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

interface Account {
  c: Client;
  id: string;
  email: string;
  access: string;
  refresh: string;
}

async function account(base: string, tag: string, name?: string): Promise<Account> {
  const c = client(base);
  const email = uniqueEmail(tag);
  const res = await c.post('/auth/register', { email, password: PASSWORD, ...(name ? { name } : {}) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return {
    c,
    email,
    id: (res.body.user as { id: string }).id,
    access: res.body.access_token as string,
    refresh: res.body.refresh_token as string,
  };
}

/**
 * The admin API over HTTP. Changes are made through `base` and their effect
 * is checked through `other` (another gateway replica in the stack): a ban or
 * a role change refuses the user's live tokens there at once.
 */
export function adminScenarios(name: string, base: () => string, other: () => string, mailbox: () => Mailbox): void {
  describe(`${name}: the admin API`, () => {
    test('the first admin from ADMIN_EMAIL signs in with role admin; others get 403 forbidden, nobody 401', async () => {
      const token = await adminToken(base());
      assert.equal(claimsOf(token).role, 'admin');
      const user = await account(base(), 'plain');
      isError(await user.c.get('/admin/users', user.access), 403, 'forbidden');
      isError(await user.c.patch(`/admin/users/${user.id}`, { role: 'admin' }, user.access), 403, 'forbidden');
      const guest = await client(base()).post('/auth/guest', {});
      isError(await client(base()).get('/admin/users', guest.body.access_token as string), 403, 'forbidden');
      isError(await client(base()).get('/admin/users'), 401, 'unauthorized');
      isError(await client(base()).del(`/admin/users/${user.id}/sessions`), 401, 'unauthorized');
    });

    test('search by email or name, page by cursor, read one user with its ban flag', async () => {
      const admin = client(base());
      const token = await adminToken(base());
      const tag = `find${Math.floor(Math.random() * 1e9)}`;
      const made = [
        await account(base(), tag),
        await account(base(), 'named', `Zed ${tag}`),
        await account(base(), tag),
      ];
      const seen: string[] = [];
      let cursor = '';
      for (let i = 0; i < 5; i++) {
        const page = await admin.get(`/admin/users?search=${tag.toUpperCase()}&limit=2${cursor}`, token);
        assert.equal(page.status, 200, JSON.stringify(page.body));
        seen.push(...(page.body.users as { id: string }[]).map((u) => u.id));
        if (page.body.next_cursor === null) break;
        cursor = `&cursor=${encodeURIComponent(page.body.next_cursor as string)}`;
      }
      assert.deepEqual(seen, made.map((u) => u.id).reverse());
      const one = await admin.get(`/admin/users/${made[1]?.id}`, token);
      assert.equal(one.status, 200);
      assert.equal(one.body.name, `Zed ${tag}`);
      assert.equal(one.body.banned, false);
      assert.equal(one.body.password_hash, undefined);
      isError(await admin.get(`/admin/users/${crypto.randomUUID()}`, token), 404, 'not_found');
    });

    test('a ban ends every session at once (on the other replica too) and refuses sign-in and refresh; lifting it restores sign-in', async () => {
      const token = await adminToken(base());
      const victim = await account(base(), 'banned');
      const second = await victim.c.post('/auth/login', { email: victim.email, password: PASSWORD });
      assert.equal((await client(other()).get('/auth/session', victim.access)).status, 200);
      const ban = await client(base()).patch(`/admin/users/${victim.id}`, { banned: true }, token);
      assert.equal(ban.status, 200, JSON.stringify(ban.body));
      assert.equal(ban.body.banned, true);
      for (const gateway of [base(), other()]) {
        for (const access of [victim.access, second.body.access_token as string]) {
          isError(await client(gateway).get('/auth/session', access), 401, 'unauthorized');
        }
      }
      isError(await victim.c.post('/auth/login', { email: victim.email, password: PASSWORD }), 403, 'user_banned');
      assert.equal((await victim.c.post('/auth/refresh', { refresh_token: victim.refresh })).status, 401);
      assert.equal((await client(base()).patch(`/admin/users/${victim.id}`, { banned: false }, token)).status, 200);
      assert.equal((await victim.c.post('/auth/login', { email: victim.email, password: PASSWORD })).status, 200);
    });

    test('a role change takes effect at once: the old token is refused, a new sign-in carries the role', async () => {
      const token = await adminToken(base());
      const promoted = await account(base(), 'promoted');
      const res = await client(base()).patch(`/admin/users/${promoted.id}`, { role: 'admin' }, token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.role, 'admin');
      isError(await client(other()).get('/auth/session', promoted.access), 401, 'unauthorized');
      const again = await promoted.c.post('/auth/login', { email: promoted.email, password: PASSWORD });
      const access = again.body.access_token as string;
      assert.equal(claimsOf(access).role, 'admin');
      assert.equal((await client(other()).get('/admin/users?limit=1', access)).status, 200);
      // And back: the demoted admin is out at once, and a user again.
      assert.equal((await client(base()).patch(`/admin/users/${promoted.id}`, { role: 'user' }, token)).status, 200);
      isError(await client(other()).get('/admin/users?limit=1', access), 401, 'unauthorized');
      const after = await promoted.c.post('/auth/login', { email: promoted.email, password: PASSWORD });
      isError(await client(base()).get('/admin/users', after.body.access_token as string), 403, 'forbidden');
    });

    test('profile fields, verification and metadata; bad fields are the contract 400', async () => {
      const token = await adminToken(base());
      const user = await account(base(), 'profile');
      const res = await client(base()).patch(
        `/admin/users/${user.id}`,
        { name: 'Set by admin', email_verified: true, metadata: { plan: 'team' } },
        token,
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.email_verified, true);
      assert.deepEqual(res.body.metadata, { plan: 'team' });
      // A profile change does not sign the user out.
      assert.equal((await user.c.get('/auth/me', user.access)).body.name, 'Set by admin');
      for (const body of [{ role: 'guest' }, { role: 'root' }, { banned: 1 }, { password: 'x' }]) {
        isError(await client(base()).patch(`/admin/users/${user.id}`, body, token), 400, 'validation_failed');
      }
      const guest = await client(base()).post('/auth/guest', {});
      const guestId = (guest.body.user as { id: string }).id;
      isError(
        await client(base()).patch(`/admin/users/${guestId}`, { role: 'admin' }, token),
        400,
        'validation_failed',
      );
    });

    test("a user's sessions: listed, then all revoked at once", async () => {
      const token = await adminToken(base());
      const user = await account(base(), 'sessions');
      await user.c.post('/auth/login', { email: user.email, password: PASSWORD });
      const list = await client(base()).get(`/admin/users/${user.id}/sessions`, token);
      assert.equal(list.status, 200);
      assert.equal((list.body.sessions as { user_id: string }[]).length, 2);
      assert.ok((list.body.sessions as { user_id: string }[]).every((s) => s.user_id === user.id));
      const revoked = await client(base()).del(`/admin/users/${user.id}/sessions`, token);
      assert.deepEqual(revoked.body, { sessions_revoked: 2 });
      isError(await client(other()).get('/auth/session', user.access), 401, 'unauthorized');
      assert.deepEqual((await client(base()).get(`/admin/users/${user.id}/sessions`, token)).body, { sessions: [] });
      isError(await client(base()).get(`/admin/users/${crypto.randomUUID()}/sessions`, token), 404, 'not_found');
    });

    test('delete: the user is gone and signed out everywhere; the last admin cannot demote, ban or delete itself', async () => {
      const token = await adminToken(base());
      const user = await account(base(), 'deleted');
      const del = await client(base()).del(`/admin/users/${user.id}`, token);
      assert.equal(del.status, 204);
      isError(await client(other()).get('/auth/session', user.access), 401, 'unauthorized');
      isError(await user.c.post('/auth/login', { email: user.email, password: PASSWORD }), 401, 'invalid_credentials');
      isError(await client(base()).del(`/admin/users/${user.id}`, token), 404, 'not_found');

      const me = claimsOf(token).sub as string;
      isError(await client(base()).patch(`/admin/users/${me}`, { role: 'user' }, token), 409, 'last_admin');
      isError(await client(base()).patch(`/admin/users/${me}`, { banned: true }, token), 409, 'last_admin');
      isError(await client(base()).del(`/admin/users/${me}`, token), 409, 'last_admin');
      assert.equal((await client(base()).get('/auth/session', token)).status, 200, 'the refused change ended nothing');
    });

    test('an invitation is mailed through SMTP; its link makes the account with the role, signed in, once', async () => {
      const token = await adminToken(base());
      const email = uniqueEmail('invited');
      const made = await client(base()).post('/admin/invitations', { email, role: 'admin' }, token);
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.role, 'admin');
      const pending = await client(other()).get('/admin/invitations', token);
      assert.ok((pending.body.invitations as { id: string }[]).some((i) => i.id === made.body.id));
      const mail = await mailbox().waitFor(email, 1, withLink('invitation'));
      const link = linkIn(mail.text);
      const invite = link.searchParams.get('token');
      const accepted = await client(other()).post('/auth/invitations/accept', {
        token: invite,
        password: PASSWORD,
        name: 'Invited Admin',
      });
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
      const user = accepted.body.user as { role: string; email_verified: boolean; name: string };
      assert.equal(user.role, 'admin');
      assert.equal(user.email_verified, true);
      assert.equal(claimsOf(accepted.body.access_token as string).role, 'admin');
      isError(
        await client(base()).post('/auth/invitations/accept', { token: invite, password: PASSWORD }),
        400,
        'invalid_token',
      );
      assert.ok(
        !((await client(base()).get('/admin/invitations', token)).body.invitations as { id: string }[]).some(
          (i) => i.id === made.body.id,
        ),
        'an accepted invitation is no longer open',
      );
      // The invitee signs in with the password they chose.
      assert.equal((await client(base()).post('/auth/login', { email, password: PASSWORD })).status, 200);
      // An address with an account cannot be invited; a revoked invitation's link does nothing.
      isError(await client(base()).post('/admin/invitations', { email }, token), 409, 'email_taken');
      const other2 = uniqueEmail('revoked-invite');
      const second = await client(base()).post('/admin/invitations', { email: other2 }, token);
      const secondMail = await mailbox().waitFor(other2, 1, withLink('invitation'));
      assert.equal((await client(base()).del(`/admin/invitations/${second.body.id}`, token)).status, 204);
      const revoked = linkIn(secondMail.text).searchParams.get('token');
      isError(
        await client(base()).post('/auth/invitations/accept', { token: revoked, password: PASSWORD }),
        400,
        'invalid_token',
      );
      const plain = await account(base(), 'not-admin');
      isError(await plain.c.post('/admin/invitations', { email: uniqueEmail('x') }, plain.access), 403, 'forbidden');
      // The invited admin demotes itself back: the first admin is still there, so that is allowed.
      const me = (accepted.body.user as { id: string }).id;
      const demoted = await client(base()).patch(
        `/admin/users/${me}`,
        { role: 'user' },
        accepted.body.access_token as string,
      );
      assert.equal(demoted.status, 200, JSON.stringify(demoted.body));
    });
  });
}
