import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_PROJECT_ID as P } from '@gatehouse/contracts';
import { newId } from '@gatehouse/kit';
import { hash, verify } from '@node-rs/argon2';
import { startTestIdentity, type TestIdentity } from '../app.test-support.ts';

// The production default (OWASP's floor), so one verification (~10 ms) stands
// well above the noise of a query and a bus hop.
const PARAMS = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
const TRIES = 5;

async function median(run: () => Promise<unknown>): Promise<number> {
  await run(); // warm-up: first calls pay for allocation and JIT
  const times: number[] = [];
  for (let i = 0; i < TRIES; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(TRIES / 2)] as number;
}

let identity: TestIdentity;
before(async () => {
  identity = await startTestIdentity({ PASSWORD_HASH: 'argon2id:m=19456,t=2,p=1' });
});
after(() => identity?.close());

test('an unknown email costs a real argon2 verification, like a wrong password', async () => {
  const address = `timing-${newId()}@example.test`;
  await identity.bus.request('identity.user.register', { project_id: P, email: address, password: 'the password!' });
  const attempt = (email: string) => () =>
    identity.bus.request('identity.user.authenticate', { project_id: P, email, password: 'a wrong password' }).then(
      () => assert.fail('signed in with a wrong password'),
      (err) => assert.equal(err.code, 'invalid_credentials'),
    );

  const stored = await hash('the password!', PARAMS);
  const bareVerify = await median(() => verify(stored, 'a wrong password'));
  const wrongPassword = await median(attempt(address));
  const unknownEmail = await median(attempt(`nobody-${newId()}@example.test`));

  // Generous bounds: they catch a skipped hash (a few ms against ~10+), not jitter.
  assert.ok(unknownEmail >= bareVerify / 2, `unknown email ${unknownEmail} ms vs one verify ${bareVerify} ms`);
  assert.ok(
    unknownEmail >= wrongPassword / 2,
    `unknown email ${unknownEmail} ms vs wrong password ${wrongPassword} ms`,
  );
  assert.ok(
    unknownEmail <= wrongPassword * 2 + 20,
    `unknown email ${unknownEmail} ms vs wrong password ${wrongPassword} ms`,
  );
});
