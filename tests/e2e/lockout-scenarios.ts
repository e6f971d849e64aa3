import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { uniqueEmail } from './client.ts';
import { TEST_SERVER_ENV } from './scenarios.ts';

const PASSWORD = 'correct horse battery';
// TEST_SERVER_ENV: failed passwords per (account, client), and per account for all clients without
// a known device together (LOGIN_FAILURES_PER_ACCOUNT_UNKNOWN_CLIENTS, by default ten times as many).
const PER_CLIENT = Number(TEST_SERVER_ENV.LOGIN_FAILURES_PER_ACCOUNT);
const env: Record<string, string | undefined> = TEST_SERVER_ENV;
const STRANGERS = Number(env.LOGIN_FAILURES_PER_ACCOUNT_UNKNOWN_CLIENTS ?? 10 * PER_CLIENT);

interface Answer {
  status: number;
  headers: Headers;
  /** The gh_device cookie the answer sets, if any: its token and the whole Set-Cookie line. */
  device: { token: string; line: string } | undefined;
}

const rnd = () => Math.floor(Math.random() * 200) + 1;
/** A /16 of its own per test (the servers trust X-Forwarded-For), apart from client.ts's 10/8. */
const network = () => {
  const prefix = `100.${64 + (rnd() % 64)}`;
  let n = 0;
  return () => {
    n++;
    return `${prefix}.${Math.floor(n / 250)}.${(n % 250) + 1}`;
  };
};

/** POST /auth/login from `ip`, with the browser's device cookie when it has one. */
async function login(base: string, ip: string, email: string, password: string, device?: string): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-forwarded-for': ip };
  if (device) headers.cookie = `gh_device=${device}`;
  const res = await fetch(`${base}/auth/login`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ email, password }),
    signal: AbortSignal.timeout(30_000),
  });
  await res.text();
  const line = res.headers.getSetCookie().find((c) => c.startsWith('gh_device='));
  const token = line ? /^gh_device=([^;]+)/.exec(line)?.[1] : undefined;
  return { status: res.status, headers: res.headers, device: line && token ? { token, line } : undefined };
}

async function register(base: string, ip: string, email: string): Promise<void> {
  const res = await fetch(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(res.status, 201, await res.text());
}

/**
 * The password lockout cannot be turned against the owner: failures count per account and
 * client (a known device, else the address), and strangers share one larger budget per account.
 */
export function lockoutScenarios(name: string, url: () => string): void {
  describe(`${name}: an attacker's failed passwords do not lock the owner out`, () => {
    test("the attacker's address is locked; the owner signs in from another, and with a known device from the attacker's own", async () => {
      const next = network();
      const [home, attacker] = [next(), next()];
      const email = uniqueEmail('victim');
      await register(url(), home, email);
      const signedIn = await login(url(), home, email, PASSWORD);
      assert.equal(signedIn.status, 200);
      assert.ok(signedIn.device, 'a right password sets the device cookie');
      const { token, line } = signedIn.device;
      assert.match(line, /; HttpOnly/i);
      assert.match(line, /; SameSite=Lax/i);
      assert.match(line, /; Path=\/auth\/login(;|$)/);
      assert.ok(Number(/Max-Age=(\d+)/.exec(line)?.[1]) >= 180 * 24 * 3600);

      for (let i = 0; i < PER_CLIENT; i++) {
        const guess = await login(url(), attacker, email, `wrong guess ${i}`);
        assert.equal(guess.status, 401);
        assert.equal(guess.device, undefined);
      }
      const locked = await login(url(), attacker, email, PASSWORD);
      assert.equal(locked.status, 429, 'the locked address, even with the right password');
      assert.ok(Number(locked.headers.get('retry-after')) > 0);

      // The owner: from another network, and from the attacker's own address with the device cookie.
      assert.equal((await login(url(), next(), email, PASSWORD)).status, 200);
      const known = await login(url(), attacker, email, PASSWORD, token);
      assert.equal(known.status, 200);
      assert.equal(known.device?.token, token, 'the known device keeps its cookie, renewed');
      // The cookie is this account's only: for another account it is a stranger's.
      const other = uniqueEmail('other');
      for (let i = 0; i < PER_CLIENT; i++) await login(url(), attacker, other, 'wrong', token);
      assert.equal((await login(url(), attacker, other, 'wrong', token)).status, 429);
    });

    test('guesses from many addresses at once lock strangers out after the shared budget, never the known device', async () => {
      const next = network();
      const email = uniqueEmail('spread');
      const home = next();
      await register(url(), home, email);
      const device = (await login(url(), home, email, PASSWORD)).device?.token;
      assert.ok(device);
      // More guesses than the strangers' budget, each from an address of its own, all in flight
      // at once: each claims its try before argon2 runs, so exactly the budget is checked.
      const guesses = await Promise.all(
        Array.from({ length: STRANGERS + 10 }, (_, i) => login(url(), next(), email, `wrong guess ${i}`)),
      );
      const statuses = guesses.map((g) => g.status);
      assert.equal(statuses.filter((s) => s === 401).length, STRANGERS, statuses.join());
      assert.equal(statuses.filter((s) => s === 429).length, 10, statuses.join());
      // Every stranger is locked out for the window now, the owner on a new network too (their
      // known devices, a magic link or a passkey still let them in)...
      assert.equal((await login(url(), next(), email, PASSWORD)).status, 429);
      // ...but not the owner's known device, from any address.
      assert.equal((await login(url(), next(), email, PASSWORD, device)).status, 200);
    });
  });
}
