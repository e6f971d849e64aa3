import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Client, claimsOf, client, type Res, uniqueEmail } from './client.ts';
import type { Mailbox } from './mailbox.ts';

const PASSWORD = 'correct horse battery';

function isError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, code);
  assert.equal(typeof res.body.message, 'string');
}

interface Account {
  c: Client;
  email: string;
  id: string;
  access: string;
  refresh: string;
  sid: string;
}

async function account(base: string, tag: string, name = tag): Promise<Account> {
  const c = client(base);
  const email = uniqueEmail(tag);
  const res = await c.post('/auth/register', { email, password: PASSWORD, name });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const access = res.body.access_token as string;
  return {
    c,
    email,
    id: (res.body.user as { id: string }).id,
    access,
    refresh: res.body.refresh_token as string,
    sid: claimsOf(access).sid as string,
  };
}

/**
 * Trust: what one signed-in user can do to another. Run against both modes.
 * `mailbox` reads the mail the server sent (a real SMTP server).
 */
export function trustScenarios(name: string, url: () => string, _mailbox: () => Mailbox): void {
  describe(`${name}: one user cannot act as another`, () => {
    test("no authenticated route takes another user's user_id, project_id or session_id from the body", async () => {
      const attacker = await account(url(), 'attacker');
      const victim = await account(url(), 'victim', 'Victim');
      const foreign = {
        user_id: victim.id,
        project_id: '00000000-0000-7000-8000-00000000beef',
        session_id: victim.sid,
      };
      const a = attacker.c;
      const routes: { method: 'post' | 'patch' | 'del'; path: string; body: Record<string, unknown> }[] = [
        { method: 'patch', path: '/auth/me', body: { name: 'pwned' } },
        // The victim's real password, even: the body must not pick whose password it is.
        {
          method: 'post',
          path: '/auth/password/change',
          body: { current_password: PASSWORD, new_password: 'pwned pwned pwned' },
        },
        { method: 'del', path: '/auth/me', body: { password: PASSWORD } },
        { method: 'post', path: '/auth/logout', body: {} },
        { method: 'post', path: '/auth/logout-all', body: {} },
        { method: 'del', path: `/auth/sessions/${attacker.sid}`, body: {} },
        { method: 'post', path: '/auth/email/resend', body: {} },
        { method: 'post', path: '/auth/mfa/totp/setup', body: {} },
        { method: 'post', path: '/auth/mfa/totp/enable', body: { code: '123456' } },
        { method: 'post', path: '/auth/mfa/totp/disable', body: { code: '123456' } },
        { method: 'post', path: '/auth/mfa/recovery-codes', body: { code: '123456' } },
        { method: 'post', path: '/auth/passkeys/register/options', body: {} },
        { method: 'post', path: '/auth/passkeys/register/verify', body: { response: {} } },
        { method: 'del', path: '/auth/passkeys/00000000-0000-7000-8000-000000000001', body: {} },
        { method: 'post', path: '/auth/guest/convert', body: { email: uniqueEmail('conv'), password: PASSWORD } },
        { method: 'post', path: '/auth/refresh', body: { refresh_token: attacker.refresh } },
      ];
      for (const route of routes) {
        for (const [field, value] of Object.entries(foreign)) {
          const body = { ...route.body, [field]: value };
          const res =
            route.method === 'del'
              ? await a.del(route.path, attacker.access, body)
              : await a[route.method](route.path, body, attacker.access);
          isError(res, 400, 'validation_failed');
          assert.deepEqual(
            (res.body.details as { field: string }[]).map((d) => d.field),
            [field],
            `${route.method} ${route.path} with ${field}`,
          );
        }
      }
      // Query strings name no one either: the token does.
      const me = await a.get(`/auth/me?user_id=${victim.id}`, attacker.access);
      assert.equal(me.body.id, attacker.id);
      const sessions = await a.get(`/auth/sessions?user_id=${victim.id}`, attacker.access);
      assert.deepEqual(
        (sessions.body.sessions as { user_id: string }[]).map((s) => s.user_id),
        [attacker.id],
      );

      // The victim is untouched: same name, same password, session alive, no TOTP.
      const v = victim.c;
      assert.equal((await v.get('/auth/session', victim.access)).status, 200);
      const victimMe = await v.get('/auth/me', victim.access);
      assert.equal(victimMe.body.name, 'Victim');
      assert.equal(victimMe.body.mfa_enabled, false);
      assert.equal((await v.post('/auth/login', { email: victim.email, password: PASSWORD })).status, 200);
      // And the attacker's own calls, without foreign fields, still act on the attacker only.
      const renamed = await a.patch('/auth/me', { name: 'Mallory' }, attacker.access);
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.id, attacker.id);
      assert.equal((await v.get('/auth/me', victim.access)).body.name, 'Victim');
    });

    test('concurrent wrong passwords from many addresses get no more tries than the account limit', async () => {
      // TEST_SERVER_ENV: LOGIN_FAILURES_PER_ACCOUNT=5. Each guess claims its try before argon2
      // runs, so 20 guesses in flight at once cannot all be checked.
      const { email } = await account(url(), 'guessed');
      const guesses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          client(url()).post('/auth/login', { email, password: `wrong guess ${i}` }),
        ),
      );
      const statuses = guesses.map((g) => g.status).sort();
      assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join());
      assert.equal(statuses.filter((s) => s === 429).length, 15, statuses.join());
      // The owner is locked out for the window too (the limit is per account, not per guesser).
      isError(await client(url()).post('/auth/login', { email, password: PASSWORD }), 429, 'rate_limited');
    });

    test("another user's session cannot be ended by id", async () => {
      const attacker = await account(url(), 'attacker');
      const victim = await account(url(), 'victim');
      isError(await attacker.c.del(`/auth/sessions/${victim.sid}`, attacker.access), 404, 'not_found');
      assert.equal((await victim.c.get('/auth/session', victim.access)).status, 200);
    });
  });
}
