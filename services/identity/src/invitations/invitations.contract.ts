// Test support only: the invitation tests, run on PGlite (invitations.test.ts) and on the real
// Postgres (invitations.pg.int.test.ts), where two accepts of one link really run at once.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P, type RequestOf } from '@gatehouse/contracts';
import { newId, newProjectKeys, type RequestSubjectName } from '@gatehouse/kit';
import { AccountMail } from '../account-mail/account-mail.ts';
import { rejectsWith, startTestIdentity, type TestIdentity } from '../app.test-support.ts';
import { discardMail, silentLog, type TestDatabase } from '../db/test-databases.ts';
import { OneTimeTokens } from '../one-time-tokens/one-time-tokens.ts';
import { createPasswords } from '../passwords/passwords.ts';
import { UserEvents } from '../users/user-events.ts';
import { PostgresUsersStore } from '../users/users.store.ts';
import { Invitations } from './invitations.ts';

const email = (tag: string) => `${tag}-${newId()}@example.test`;
const PASSWORD = 'correct horse battery';
const SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000;

export function invitationsContract(label: string, open: () => Promise<TestDatabase>): void {
  describe(`identity invitations (${label})`, () => {
    let identity: TestIdentity;
    let database: TestDatabase;
    const ADMIN = newId();
    before(async () => {
      database = await open();
      identity = await startTestIdentity({ PUBLIC_URL: 'https://auth.example.test' }, database);
    });
    after(async () => {
      await identity?.close();
      await database?.drop();
    });

    const request = <S extends RequestSubjectName>(subject: S, data: RequestOf<S>) =>
      identity.bus.request(subject, data);
    const invite = (address: string, role: 'admin' | 'user' = 'user', extra: { redirect_to?: string } = {}) =>
      request('identity.invitation.create', { project_id: P, email: address, role, invited_by: ADMIN, ...extra });
    const accept = (token: string, extra: { name?: string; password?: string; project_id?: string } = {}) =>
      request('identity.invitation.accept', { project_id: P, token, password: PASSWORD, ...extra });
    const openIds = async (projectId = P) =>
      (await request('identity.invitation.list', { project_id: projectId })).invitations.map((i) => i.id);
    const usersWith = (address: string) =>
      identity.database.db.selectFrom('users').selectAll().where('email', '=', address).execute();

    test('an invitation mails a 7-day link; accepting it creates a verified user with the role and the password', async () => {
      const address = email('invited');
      const before = Date.now();
      const { invitation } = await invite(address.toUpperCase(), 'admin');
      assert.deepEqual(Object.keys(invitation).sort(), ['created_at', 'email', 'expires_at', 'id', 'role']);
      assert.equal(invitation.email, address, 'the canonical form of the address');
      assert.equal(invitation.role, 'admin');
      const expires = Date.parse(invitation.expires_at);
      assert.ok(Math.abs(expires - before - SEVEN_DAYS_MS) < 60_000, invitation.expires_at);

      const [mail, ...more] = identity.mailsTo(address);
      assert.equal(more.length, 0);
      assert.equal(mail?.template, 'invitation');
      assert.equal(mail?.project_id, P);
      assert.equal(mail?.vars.role, 'admin');
      assert.equal(mail?.vars.expires_in, '7 days');
      assert.equal(mail?.vars.email, address);
      assert.equal(mail?.vars.name, '');
      const link = new URL(mail?.vars.link ?? '');
      assert.equal(`${link.origin}${link.pathname}`, 'https://auth.example.test/auth/confirm');
      assert.equal(link.searchParams.get('type'), 'invitation');
      assert.deepEqual(await usersWith(address), [], 'no account before the link is followed');

      const token = identity.tokenFrom(address, 'invitation');
      const { user } = await accept(token, { name: 'Ada' });
      assert.equal(user.email, address);
      assert.equal(user.email_verified, true);
      assert.equal(user.role, 'admin');
      assert.equal(user.name, 'Ada');
      assert.equal(user.has_password, true);
      assert.equal(user.project_id, P);
      assert.ok(
        identity.published.some(
          (e) => e.subject === 'events.user.created' && e.data.user_id === user.id && e.data.role === 'admin',
        ),
      );
      const signedIn = await request('identity.user.authenticate', {
        project_id: P,
        email: address,
        password: PASSWORD,
      });
      assert.equal(signedIn.user.id, user.id, 'the password set by the accept signs in');
      assert.ok(!(await openIds()).includes(invitation.id), 'an accepted invitation is no longer open');

      await rejectsWith(accept(token, { password: 'another password' }), 'invalid_one_time_token');
      assert.equal((await usersWith(address)).length, 1);
    });

    test('the link leads to redirect_to when given; the role user reads in the mail', async () => {
      const address = email('redirected');
      await invite(address, 'user', { redirect_to: 'https://app.example.test/welcome?x=1' });
      const link = new URL(identity.mailsTo(address).at(-1)?.vars.link ?? '');
      assert.equal(`${link.origin}${link.pathname}`, 'https://app.example.test/welcome');
      assert.equal(link.searchParams.get('x'), '1');
      assert.equal(identity.mailsTo(address).at(-1)?.vars.role, 'user');
      const { user } = await accept(identity.tokenFrom(address, 'invitation'));
      assert.equal(user.role, 'user');
      assert.equal(user.name, null);
    });

    test('an expired invitation is refused and no longer listed', async () => {
      const address = email('expired');
      const { invitation } = await invite(address);
      const token = identity.tokenFrom(address, 'invitation');
      assert.ok((await openIds()).includes(invitation.id));
      await identity.expireToken(token);
      assert.ok(!(await openIds()).includes(invitation.id));
      await rejectsWith(accept(token), 'invalid_one_time_token');
      await rejectsWith(
        request('identity.invitation.revoke', { project_id: P, invitation_id: invitation.id }),
        'not_found',
      );
      assert.deepEqual(await usersWith(address), []);
    });

    test('a revoked invitation is refused; revoking it again, or an unknown id, is not_found', async () => {
      const address = email('revoked');
      const { invitation } = await invite(address);
      const token = identity.tokenFrom(address, 'invitation');
      assert.deepEqual(
        await request('identity.invitation.revoke', { project_id: P, invitation_id: invitation.id }),
        {},
      );
      assert.ok(!(await openIds()).includes(invitation.id));
      await rejectsWith(accept(token), 'invalid_one_time_token');
      assert.deepEqual(await usersWith(address), []);
      for (const id of [invitation.id, newId()]) {
        await rejectsWith(request('identity.invitation.revoke', { project_id: P, invitation_id: id }), 'not_found');
      }
    });

    test('the list holds the open invitations only, newest first; a new one to an address replaces the open one', async () => {
      const [a, b, c] = [email('list-a'), email('list-b'), email('list-c')];
      const first = (await invite(a)).invitation;
      const second = (await invite(b, 'admin')).invitation;
      const third = (await invite(c)).invitation;
      await request('identity.invitation.revoke', { project_id: P, invitation_id: second.id });
      await accept(identity.tokenFrom(c, 'invitation'));
      const again = (await invite(a, 'admin')).invitation;
      const { invitations } = await request('identity.invitation.list', { project_id: P });
      const mine = invitations.filter((i) => [a, b, c].includes(i.email));
      assert.deepEqual(mine, [again]);
      assert.ok(!invitations.some((i) => [first.id, second.id, third.id].includes(i.id)));
      // Newest first across the whole list.
      const created = invitations.map((i) => Date.parse(i.created_at));
      assert.deepEqual(
        created,
        [...created].sort((x, y) => y - x),
      );
      // Only the newest link to `a` works, with the newest role.
      const tokens = identity
        .mailsTo(a)
        .map((m) => new URL(m.vars.link ?? '').searchParams.get('token') ?? '')
        .filter(Boolean);
      assert.equal(tokens.length, 2);
      await rejectsWith(accept(tokens[0] as string), 'invalid_one_time_token');
      assert.equal((await accept(tokens[1] as string)).user.role, 'admin');
    });

    test('an invitation to an address that has an account (in any spelling) is email_taken, and nothing is mailed', async () => {
      const address = email('taken');
      await request('identity.user.register', { project_id: P, email: address, password: PASSWORD });
      const mailed = identity.mails.length;
      await rejectsWith(invite(address), 'email_taken');
      await rejectsWith(invite(`  ${address.toUpperCase()} `), 'email_taken');
      assert.equal(identity.mails.length, mailed);
      assert.ok(
        !(await request('identity.invitation.list', { project_id: P })).invitations.some((i) => i.email === address),
      );
    });

    test('an address that signed up since the invitation: accept is email_taken and the link is not spent', async () => {
      const address = email('meanwhile');
      const { invitation } = await invite(address);
      const token = identity.tokenFrom(address, 'invitation');
      const { user: registered } = await request('identity.user.register', {
        project_id: P,
        email: address,
        password: 'someone else pw',
      });
      await rejectsWith(accept(token), 'email_taken');
      assert.deepEqual(
        (await usersWith(address)).map((u) => [u.id, u.role]),
        [[registered.id, 'user']],
        'the account that exists is left as it is',
      );
      assert.ok((await openIds()).includes(invitation.id), 'still open: the refusal did not use the link');
      // Once that account is gone, the invitation still works.
      await identity.database.db.deleteFrom('users').where('id', '=', registered.id).execute();
      assert.equal((await accept(token)).user.email, address);
    });

    test('an address that signs up between the check and the creation: email_taken, and the link is not spent', async () => {
      const address = email('race-signup');
      await invite(address, 'admin');
      const token = identity.tokenFrom(address, 'invitation');
      const { db } = identity.database;
      const store = new PostgresUsersStore(db);
      const tokens = new OneTimeTokens(db);
      const real = await createPasswords(identity.config.passwordHash);
      let signUps = 0;
      // The address signs up while the accept hashes the password: after its check, before its insert.
      const racing = {
        ...real,
        hash: async (password: string) => {
          signUps += 1;
          if (signUps === 1) {
            await store.create({ projectId: P, email: address, passwordHash: null, role: 'user' });
          }
          return real.hash(password);
        },
      };
      const invitations = new Invitations({
        db,
        store,
        tokens,
        passwords: racing,
        events: new UserEvents(identity.bus, silentLog),
        mail: new AccountMail({ store, tokens, mail: discardMail, publicUrl: 'https://x.test', log: silentLog }),
      });
      await rejectsWith(invitations.accept({ projectId: P, token, password: PASSWORD }), 'email_taken');
      assert.equal(signUps, 1);
      const [signedUp, ...others] = await usersWith(address);
      assert.equal(others.length, 0);
      assert.equal(signedUp?.role, 'user', 'not the invited admin');
      assert.ok(await tokens.peek(P, 'invitation', token), 'the transaction that would have used the link rolled back');
    });

    test('two accepts of one link at once: one user, the other invalid_one_time_token', async () => {
      const address = email('double');
      await invite(address);
      const token = identity.tokenFrom(address, 'invitation');
      const results = await Promise.allSettled([accept(token), accept(token, { password: 'the other password' })]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1, JSON.stringify(results));
      assert.equal(lost.length, 1);
      assert.equal((lost[0] as PromiseRejectedResult).reason.code, 'invalid_one_time_token');
      assert.equal((await usersWith(address)).length, 1);
      assert.equal(
        identity.published.filter((e) => e.subject === 'events.user.created' && e.data.email === address).length,
        1,
      );
    });

    test('no token is stored in clear: only its hash', async () => {
      const address = email('hashed');
      const { invitation } = await invite(address);
      const token = identity.tokenFrom(address, 'invitation');
      const rows = await identity.database.db
        .selectFrom('one_time_tokens')
        .selectAll()
        .where('email', '=', address)
        .execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.id, invitation.id);
      assert.equal(rows[0]?.role, 'user');
      assert.equal(rows[0]?.invited_by, ADMIN);
      assert.equal(rows[0]?.token_hash, createHash('sha256').update(token).digest('hex'));
      assert.ok(!JSON.stringify(rows).includes(token));
      await accept(token);
      const stored = JSON.stringify([
        await identity.database.db.selectFrom('one_time_tokens').selectAll().execute(),
        await identity.database.db.selectFrom('users').selectAll().execute(),
      ]);
      assert.ok(!stored.includes(token));
    });

    test('invitations stay in their project; another kind of link or a bad role is refused', async () => {
      const other = newId();
      await identity.database.db
        .insertInto('projects')
        .values({ id: other, name: 'Other', publishable_key: newProjectKeys().publishable_key })
        .execute();
      const address = email('project');
      const { invitation } = await invite(address);
      const token = identity.tokenFrom(address, 'invitation');
      assert.deepEqual(await openIds(other), []);
      await rejectsWith(
        request('identity.invitation.revoke', { project_id: other, invitation_id: invitation.id }),
        'not_found',
      );
      await rejectsWith(accept(token, { project_id: other }), 'invalid_one_time_token');
      // A magic link's token is no invitation, nor an invitation's a magic link.
      const linked = email('magic');
      await request('identity.magic_link.send', { project_id: P, email: linked });
      await rejectsWith(accept(identity.tokenFrom(linked, 'magic_link')), 'invalid_one_time_token');
      await rejectsWith(request('identity.magic_link.verify', { project_id: P, token }), 'invalid_one_time_token');
      assert.ok((await openIds()).includes(invitation.id));
      await rejectsWith(
        request('identity.invitation.create', {
          project_id: P,
          email: email('guest'),
          role: 'guest' as 'user',
          invited_by: ADMIN,
        }),
        'validation_failed',
      );
      await rejectsWith(invite('not an address'), 'validation_failed');
    });
  });
}
