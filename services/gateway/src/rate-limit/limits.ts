import { AppError } from '@gatehouse/kit';
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

/**
 * The sign-in family's limits: requests per IP per minute, and failed
 * passwords per account. The account key is the normalised email, known or
 * not, so the limit itself reveals nothing about which accounts exist.
 */
export class SignInLimits {
  readonly #store: RateLimitStore;
  readonly #perIpPerMinute: number;
  readonly #failuresPerAccount: number;
  readonly #mailsPerAddressPerHour: number;
  readonly #refreshesPerIpPerMinute: number;

  constructor(
    store: RateLimitStore,
    options: {
      perIpPerMinute: number;
      failuresPerAccount: number;
      mailsPerAddressPerHour: number;
      refreshesPerIpPerMinute?: number;
    },
  ) {
    this.#store = store;
    this.#perIpPerMinute = options.perIpPerMinute;
    this.#failuresPerAccount = options.failuresPerAccount;
    this.#mailsPerAddressPerHour = options.mailsPerAddressPerHour;
    this.#refreshesPerIpPerMinute = options.refreshesPerIpPerMinute ?? 300;
  }

  /**
   * Counts a request that may mail `recipient` (an address, or `user:<id>` for
   * the signed-in resend); throws `rate_limited` over the hourly limit. Counted
   * for unknown addresses too, so a 429 reveals nothing.
   */
  async hitMail(projectId: string, recipient: string): Promise<void> {
    const key = `mail:${projectId}:${recipient.trim().toLowerCase()}`;
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
   * from `ip` and claims one attempt of the account's budget, in one atomic
   * step. Throws `rate_limited` over the per-IP limit or when the account has
   * used its budget (failures, and attempts still in flight: concurrent guesses
   * from many addresses cannot pass the limit). A claimed attempt stays counted
   * as a failure unless the sign-in ends otherwise: `clearFailures` on success,
   * `refundAttempt` when it failed for another reason than the password.
   */
  async beginPasswordSignIn(ip: string, projectId: string, email: string): Promise<void> {
    await this.#claim(ip, accountKey(projectId, email));
  }

  /**
   * A step-up (the password or a code sent to add or remove a sign-in method):
   * the per-IP count and a claim on the user's own budget of failures, as
   * `beginPasswordSignIn`. Throws `rate_limited`.
   */
  async beginStepUp(ip: string, projectId: string, userId: string): Promise<void> {
    await this.#claim(ip, stepUpKey(projectId, userId));
  }

  /** The per-IP hit and one claim on `budgetKey`'s failures, in one step; throws `rate_limited`. */
  async #claim(ip: string, budgetKey: string): Promise<void> {
    const [perIp, claim] = await this.#store.hitAndClaim(
      { key: `ip:${addressBucket(ip)}`, windowMs: MINUTE, limit: this.#perIpPerMinute },
      { key: budgetKey, windowMs: FAILURE_WINDOW_MS, limit: this.#failuresPerAccount },
    );
    if (perIp.count > this.#perIpPerMinute) throw limited(perIp.resetInMs);
    if (!claim.claimed) throw limited(claim.resetInMs);
  }

  async refundStepUp(projectId: string, userId: string): Promise<void> {
    await this.#store.refund(stepUpKey(projectId, userId));
  }

  async clearStepUp(projectId: string, userId: string): Promise<void> {
    await this.#store.reset(stepUpKey(projectId, userId));
  }

  /** Gives back the attempt `beginPasswordSignIn` claimed (the sign-in failed for another reason than the password). */
  async refundAttempt(projectId: string, email: string): Promise<void> {
    await this.#store.refund(accountKey(projectId, email));
  }

  /** A successful sign-in: the account's failures (and its own claim) are forgotten. */
  async clearFailures(projectId: string, email: string): Promise<void> {
    await this.#store.reset(accountKey(projectId, email));
  }
}

const stepUpKey = (projectId: string, userId: string) => `stepup:${projectId}:${userId}`;
const accountKey = (projectId: string, email: string) => `acct:${projectId}:${email.trim().toLowerCase()}`;
