import { createHash, randomBytes } from 'node:crypto';
import { AppError, addressKey } from '@gatehouse/kit';
import { addressBucket } from './address-bucket.ts';
import type { RateLimitStore } from './rate-limit.store.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The per-account window for failed passwords (the contract: per 15 minutes). */
const FAILURE_WINDOW_MS = 15 * MINUTE;

function limited(resetInMs: number): AppError {
  return new AppError('rate_limited', 'too many attempts, try again later', {
    retryAfter: Math.max(1, Math.ceil(resetInMs / 1000)),
  });
}

/** How long a device cookie (and the store's record of it) lives, renewed by each password sign-in from it. */
export const DEVICE_LIFETIME_MS = 180 * 24 * HOUR;
/** Known devices kept per account; beyond it, those that signed in longest ago are forgotten. */
const KNOWN_DEVICES_PER_ACCOUNT = 10;
/** A device token as issued: 32 random bytes, base64url. */
const DEVICE_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/**
 * What `beginPasswordSignIn` claimed: hand it back to `refundAttempt` or
 * `completeSignIn`. A wrong password needs nothing more (its claims stay counted).
 */
export interface PasswordAttempt {
  /** The account's key in the store (a hash of the normalised email). */
  readonly account: string;
  /** The (account, client) counter claimed: the known device's, else the address's. */
  readonly pair: string;
  /** The counter of all clients without a known device, when this was one. */
  readonly unknownClients: string | undefined;
  /** The request's device token when it is a known device of this account. */
  readonly knownDevice: string | undefined;
}

/**
 * The sign-in family's limits: requests per IP per minute, and failed
 * passwords per account and client. The account key is the normalised email,
 * known or not, so the limit itself reveals nothing about which accounts exist.
 *
 * Failed passwords are counted per (account, client), the client being the
 * request's known device (a `gh_device` cookie issued by an earlier password
 * sign-in to this account) or else its address (IPv6: its /64): a pair locks
 * after `failuresPerAccount` in 15 minutes, so a guesser locks out itself, not
 * the owner's other networks or devices. Clients without a known device also
 * share one count per account, `failuresPerAccountUnknownClients` (default 10×),
 * which bounds guessing from many addresses: past it those clients are refused
 * for the rest of the window, while the owner's known devices still sign in,
 * each within its own pair's budget.
 */
export class SignInLimits {
  readonly #store: RateLimitStore;
  readonly #perIpPerMinute: number;
  readonly #failuresPerAccount: number;
  readonly #failuresPerAccountUnknownClients: number;
  readonly #mailsPerAddressPerHour: number;
  readonly #refreshesPerIpPerMinute: number;
  readonly #now: () => number;

  constructor(
    store: RateLimitStore,
    options: {
      perIpPerMinute: number;
      /** Failed passwords per (account, client) per 15 minutes; also a step-up's per user. */
      failuresPerAccount: number;
      /** Failed passwords per account per 15 minutes from all clients without a known device (default 10×). */
      failuresPerAccountUnknownClients?: number | undefined;
      mailsPerAddressPerHour: number;
      refreshesPerIpPerMinute?: number;
      /** The clock of the device records (epoch ms). */
      now?: () => number;
    },
  ) {
    this.#store = store;
    this.#perIpPerMinute = options.perIpPerMinute;
    this.#failuresPerAccount = options.failuresPerAccount;
    this.#failuresPerAccountUnknownClients =
      options.failuresPerAccountUnknownClients ?? 10 * options.failuresPerAccount;
    this.#mailsPerAddressPerHour = options.mailsPerAddressPerHour;
    this.#refreshesPerIpPerMinute = options.refreshesPerIpPerMinute ?? 300;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Counts a request that may mail `recipient` (an address, or `user:<id>` for
   * the signed-in resend); throws `rate_limited` over the hourly limit. Counted
   * for unknown addresses too, so a 429 reveals nothing.
   */
  async hitMail(projectId: string, recipient: string): Promise<void> {
    const key = `mail:${projectId}:${addressKey(recipient)}`;
    const { count, resetInMs } = await this.#store.hit(key, HOUR);
    if (count > this.#mailsPerAddressPerHour) throw limited(resetInMs);
  }

  /** Counts a request from `ip` (IPv6: its /64); throws `rate_limited` over the limit. */
  async hitIp(ip: string): Promise<void> {
    const { count, resetInMs } = await this.#store.hit(`ip:${addressBucket(ip)}`, MINUTE);
    if (count > this.#perIpPerMinute) throw limited(resetInMs);
  }

  /** Counts a refresh from `ip` (its own budget: apps refresh often); throws `rate_limited` over it. */
  async hitRefresh(ip: string): Promise<void> {
    const { count, resetInMs } = await this.#store.hit(`refresh:${addressBucket(ip)}`, MINUTE);
    if (count > this.#refreshesPerIpPerMinute) throw limited(resetInMs);
  }

  /**
   * A password sign-in, before the password is checked: counts the request
   * from `ip` and claims one attempt of the (account, client) budget (and, for
   * a client without a known device, of the account's budget for all such
   * clients), in one atomic step (one store round trip). `deviceToken` is the
   * request's `gh_device` cookie, if any; it counts only if it was issued to
   * this account. Throws `rate_limited` over the per-IP limit or when a budget
   * is used up (failures, and attempts still in flight: concurrent guesses
   * cannot pass a limit). The claims stay counted as a failure unless the
   * sign-in ends otherwise: `completeSignIn` on success, `refundAttempt` when
   * it failed for another reason than the password.
   */
  async beginPasswordSignIn(
    ip: string,
    projectId: string,
    email: string,
    deviceToken?: string | undefined,
  ): Promise<PasswordAttempt> {
    const account = accountId(projectId, email);
    const device = deviceToken !== undefined && DEVICE_TOKEN.test(deviceToken) ? deviceToken : undefined;
    const id = device && deviceId(device);
    const bucket = addressBucket(ip);
    const budget = { windowMs: FAILURE_WINDOW_MS, limit: this.#failuresPerAccount };
    const byAddress = `lf:${account}:ip:${bucket}`;
    const byDevice = `lf:${account}:dev:${id}`;
    const unknownClients = `lf:${account}:unknown`;
    const [perIp, claim] = await this.#store.hitAndClaim({
      hit: { key: `ip:${bucket}`, windowMs: MINUTE, limit: this.#perIpPerMinute },
      claims: [
        { key: byAddress, ...budget },
        { key: unknownClients, windowMs: FAILURE_WINDOW_MS, limit: this.#failuresPerAccountUnknownClients },
      ],
      device: id
        ? { devices: devicesKey(account), id, now: this.#now(), claims: [{ key: byDevice, ...budget }] }
        : undefined,
    });
    if (perIp.count > this.#perIpPerMinute) throw limited(perIp.resetInMs);
    if (!claim.claimed) throw limited(claim.resetInMs);
    return claim.known
      ? { account, pair: byDevice, unknownClients: undefined, knownDevice: device }
      : { account, pair: byAddress, unknownClients, knownDevice: undefined };
  }

  /** Gives back what `beginPasswordSignIn` claimed (the sign-in failed for another reason than the password). */
  async refundAttempt(attempt: PasswordAttempt): Promise<void> {
    await this.#store.settle({ refund: claimed(attempt) });
  }

  /**
   * A right password, in one store round trip: the (account, client) pair's
   * failures are forgotten, this attempt's claim on the unknown clients' count
   * is given back (their earlier failures stay: the owner signing in must not
   * hand a distributed guesser a fresh budget), and the device is remembered
   * as known to this account. Returns the device token to set as `gh_device`:
   * the request's own when it was known here (renewed), else a new one (never
   * one the client chose, so a planted cookie cannot become known).
   */
  async completeSignIn(attempt: PasswordAttempt): Promise<string> {
    const token = attempt.knownDevice ?? randomBytes(32).toString('base64url');
    const now = this.#now();
    await this.#store.settle({
      reset: [attempt.pair],
      refund: attempt.unknownClients ? [attempt.unknownClients] : [],
      remember: {
        devices: devicesKey(attempt.account),
        id: deviceId(token),
        now,
        expiresAt: now + DEVICE_LIFETIME_MS,
        max: KNOWN_DEVICES_PER_ACCOUNT,
      },
    });
    return token;
  }

  /**
   * A step-up (the password or a code sent to add or remove a sign-in method):
   * the per-IP count and a claim on the user's own budget of failures, as
   * `beginPasswordSignIn` (no device: the caller is signed in as the user already).
   * Throws `rate_limited`.
   */
  async beginStepUp(ip: string, projectId: string, userId: string): Promise<void> {
    const [perIp, claim] = await this.#store.hitAndClaim({
      hit: { key: `ip:${addressBucket(ip)}`, windowMs: MINUTE, limit: this.#perIpPerMinute },
      claims: [{ key: stepUpKey(projectId, userId), windowMs: FAILURE_WINDOW_MS, limit: this.#failuresPerAccount }],
    });
    if (perIp.count > this.#perIpPerMinute) throw limited(perIp.resetInMs);
    if (!claim.claimed) throw limited(claim.resetInMs);
  }

  async refundStepUp(projectId: string, userId: string): Promise<void> {
    await this.#store.settle({ refund: [stepUpKey(projectId, userId)] });
  }

  async clearStepUp(projectId: string, userId: string): Promise<void> {
    await this.#store.settle({ reset: [stepUpKey(projectId, userId)] });
  }
}

const claimed = (a: PasswordAttempt) => (a.unknownClients ? [a.pair, a.unknownClients] : [a.pair]);
const stepUpKey = (projectId: string, userId: string) => `stepup:${projectId}:${userId}`;
/**
 * An account's key: a hash of the project and the email in the canonical form
 * identity looks accounts up by (kit `normalizeEmail`: case, Unicode and
 * punycode spellings of one mailbox are one account, so they share one budget),
 * known or not, so keys have one shape and the store holds no addresses. An
 * address no account can have is counted under its trimmed lower case.
 */
const accountId = (projectId: string, email: string) =>
  createHash('sha256')
    .update(`${projectId}\n${addressKey(email)}`)
    .digest('base64url')
    .slice(0, 22);
const devicesKey = (account: string) => `dev:${account}`;
/** The store keeps only a hash of a device token: whoever reads it cannot present the cookie. */
const deviceId = (token: string) => createHash('sha256').update(token).digest('base64url');
