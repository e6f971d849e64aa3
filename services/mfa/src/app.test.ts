import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { SoftwareAuthenticator } from '../test/authenticator.ts';
import { startTestMfa, type TestMfa } from '../test/mfa-harness.ts';
import { totp } from '../test/totp.ts';
import { migrate } from './app.ts';

let mfa: TestMfa;
before(async () => {
  mfa = await startTestMfa();
});
after(() => mfa.close());

test('the health check answers when the database does', async () => {
  assert.deepEqual(await mfa.bus.request('mfa.health.check', {}), { ok: true });
});

test('migrating again is a no-op, with bookkeeping of its own beside any other schema', async () => {
  await migrate(mfa.database.db);
  const { rows } = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' order by table_name`.execute(mfa.database.db);
  assert.deepEqual(
    rows.map((r) => r.table_name),
    [
      'mfa_challenges',
      'mfa_code_failures',
      'mfa_migration',
      'mfa_migration_lock',
      'mfa_passkeys',
      'mfa_recovery_codes',
      'mfa_recovery_keys',
      'mfa_totp',
      'mfa_webauthn_challenges',
    ],
  );
});

test('a deleted user loses every secret, code, passkey and challenge', async () => {
  const user = mfa.newUser();
  const bystander = mfa.newUser();
  for (const who of [user, bystander]) {
    const { secret } = await mfa.bus.request('mfa.totp.setup', { ...who, account_name: 'd@example.test' });
    await mfa.bus.request('mfa.totp.enable', { ...who, code: totp(secret, mfa.clock.now()) });
    const { options } = await mfa.bus.request('mfa.passkey.register_options', {
      ...who,
      user_name: 'd@example.test',
      user_display_name: 'D',
    });
    const response = await new SoftwareAuthenticator({ origin: mfa.origin }).create(options);
    await mfa.bus.request('mfa.passkey.register_verify', { ...who, response });
    await mfa.bus.request('mfa.challenge.create', { ...who, amr: ['pwd'] });
  }

  await mfa.bus.publish('events.user.deleted', { v: 1, ...user });
  const rowsOf = async (userId: string) => {
    let n = 0;
    for (const table of [
      'mfa_totp',
      'mfa_recovery_codes',
      'mfa_challenges',
      'mfa_webauthn_challenges',
      'mfa_passkeys',
    ] as const) {
      const row = await mfa.database.db
        .selectFrom(table)
        .select(sql<number>`count(*)::int`.as('n'))
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow();
      n += row.n;
    }
    return n;
  };
  // The event handler runs after publish returns; give it a moment.
  for (let i = 0; i < 50 && (await rowsOf(user.user_id)) > 0; i++) await sleep(20);
  assert.equal(await rowsOf(user.user_id), 0);
  assert.ok((await rowsOf(bystander.user_id)) > 0);
  assert.deepEqual(await mfa.bus.request('mfa.status.get', user), { totp: false, passkeys: 0, recovery_codes_left: 0 });
});
