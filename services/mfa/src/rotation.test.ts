import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { openPgliteTestDatabase, silentLog, type TestDatabase } from '@gatehouse/db/testing';
import { isAppError, KeyRing, keyId, sealedKeyId } from '@gatehouse/kit';
import { startTestMfa, type TestMfa } from '../test/mfa-harness.ts';
import { totp } from '../test/totp.ts';
import { type MfaDatabase, migrate, resealMfaSecrets } from './app.ts';
import { recoveryCodeKey } from './keys.ts';
import { loadRecoveryKeys } from './rotation.ts';
import { hashRecoveryCode, normalizeRecoveryCode } from './totp/recovery-codes.ts';

// A SECRET_KEY rotation over one database: mfa started with the old key, then
// with the new one and the old in SECRET_KEY_PREVIOUS, then (after `keys rotate`)
// with the new key alone.
const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
let database: TestDatabase<MfaDatabase>;
before(async () => {
  database = await openPgliteTestDatabase<MfaDatabase>(migrate);
});
after(() => database.drop());

/** One start of the service; its clock starts `steps` TOTP steps ahead, so an earlier code is no replay. */
let starts = 0;
async function start(secretKey: Buffer, previousSecretKeys: Buffer[] = []): Promise<TestMfa> {
  const mfa = await startTestMfa({ database, secretKey, previousSecretKeys });
  mfa.clock.advance(30 * 4 * ++starts);
  return mfa;
}

/** Completes an MFA challenge with a TOTP code or a recovery code: true, or false for invalid_code. */
async function passes(mfa: TestMfa, user: { project_id: string; user_id: string }, proof: object): Promise<boolean> {
  const { mfa_token } = await mfa.bus.request('mfa.challenge.create', { ...user, amr: ['pwd'] });
  try {
    await mfa.bus.request('mfa.challenge.verify', { mfa_token, ...proof });
    return true;
  } catch (err) {
    if (isAppError(err, 'invalid_code')) return false;
    throw err;
  }
}

const now = (mfa: TestMfa) => mfa.clock.now();

test('TOTP and recovery codes survive a SECRET_KEY rotation, and open with the new key alone after keys rotate', async () => {
  // Before: two users enable TOTP under the old key.
  const first = await start(oldKey);
  const [alice, bob] = [first.newUser(), first.newUser()];
  const secrets = new Map<string, string>();
  const codes = new Map<string, string[]>();
  for (const user of [alice, bob]) {
    const { secret } = await first.bus.request('mfa.totp.setup', { ...user, account_name: 'r@example.test' });
    const { recovery_codes } = await first.bus.request('mfa.totp.enable', { ...user, code: totp(secret, now(first)) });
    secrets.set(user.user_id, secret);
    codes.set(user.user_id, recovery_codes);
  }
  // Carol has a setup pending.
  const carol = first.newUser();
  const pending = await first.bus.request('mfa.totp.setup', { ...carol, account_name: 'c@example.test' });
  await first.close();

  // The new SECRET_KEY, with the old one in SECRET_KEY_PREVIOUS: everything still works.
  const during = await start(newKey, [oldKey]);
  assert.ok(await passes(during, alice, { code: totp(secrets.get(alice.user_id) as string, now(during)) }));
  assert.ok(await passes(during, bob, { recovery_code: codes.get(bob.user_id)?.[0] }));
  assert.ok(!(await passes(during, bob, { recovery_code: codes.get(bob.user_id)?.[0] })), 'a used code stays used');
  // Alice regenerates: her new codes are stored under the new key.
  during.clock.advance(30);
  const { recovery_codes: fresh } = await during.bus.request('mfa.recovery.regenerate', {
    ...alice,
    code: totp(secrets.get(alice.user_id) as string, now(during)),
  });
  const stored = await database.db
    .selectFrom('mfa_recovery_codes')
    .select('code_hash')
    .where('user_id', '=', alice.user_id)
    .execute();
  const expected = fresh.map((c) =>
    hashRecoveryCode(recoveryCodeKey(newKey), alice.project_id, alice.user_id, normalizeRecoveryCode(c) as string),
  );
  assert.deepEqual(stored.map((r) => r.code_hash).sort(), expected.sort());
  assert.ok(!(await passes(during, alice, { recovery_code: codes.get(alice.user_id)?.[0] })), 'the old codes are gone');
  await during.close();

  // Without keys rotate, the new key alone cannot open the old secrets.
  const tooEarly = await start(newKey);
  await assert.rejects(passes(tooEarly, bob, { code: totp(secrets.get(bob.user_id) as string, now(tooEarly)) }));
  await tooEarly.close();

  // keys rotate.
  const ring = new KeyRing(newKey, [oldKey]);
  const report = await resealMfaSecrets(database.db, ring);
  assert.deepEqual(report, {
    totp: { resealed: 3, current: 0, changed: 0 },
    carried: [keyId(oldKey)],
    recoveryKeysResealed: 0,
    failed: [],
  });
  const rows = await database.db.selectFrom('mfa_totp').selectAll().execute();
  for (const row of rows) {
    for (const sealed of [row.secret_sealed, row.pending_secret_sealed]) {
      if (sealed !== null) assert.equal(sealedKeyId(sealed), keyId(newKey));
    }
  }
  assert.deepEqual((await resealMfaSecrets(database.db, ring)).totp, { resealed: 0, current: 3, changed: 0 });

  // After: the new key alone opens everything.
  const afterwards = await start(newKey);
  for (const user of [alice, bob]) {
    assert.ok(await passes(afterwards, user, { code: totp(secrets.get(user.user_id) as string, now(afterwards)) }));
  }
  assert.ok(await passes(afterwards, bob, { recovery_code: codes.get(bob.user_id)?.[1] }), 'issued under the old key');
  assert.ok(await passes(afterwards, alice, { recovery_code: fresh[0] }), 'issued under the new key');
  const enabled = await afterwards.bus.request('mfa.totp.enable', {
    ...carol,
    code: totp(pending.secret, now(afterwards)),
  });
  assert.equal(enabled.recovery_codes.length, 10, 'the pending setup was re-sealed too');
  await afterwards.close();
});

test('a later rotation re-seals the carried recovery-code keys too; one that does not open is only skipped', async () => {
  const third = randomBytes(32);
  const report = await resealMfaSecrets(database.db, new KeyRing(third, [newKey]));
  assert.deepEqual(report.carried, [keyId(newKey)]);
  assert.equal(report.recoveryKeysResealed, 1, 'the old key carried by the first rotation, now under the third');
  assert.deepEqual(report.failed, []);
  const carried = await loadRecoveryKeys(database.db, new KeyRing(third), silentLog);
  assert.equal(carried.length, 2);
  assert.ok(carried.some((k) => k.equals(recoveryCodeKey(oldKey))));
  assert.ok(carried.some((k) => k.equals(recoveryCodeKey(newKey))));
  assert.deepEqual(await loadRecoveryKeys(database.db, new KeyRing(randomBytes(32)), silentLog), []);
});
