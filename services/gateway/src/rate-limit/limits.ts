import { AppError } from '@gatehouse/kit';
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

  constructor(
    store: RateLimitStore,
    options: { perIpPerMinute: number; failuresPerAccount: number; mailsPerAddressPerHour: number },
  ) {
    this.#store = store;
    this.#perIpPerMinute = options.perIpPerMinute;
    this.#failuresPerAccount = options.failuresPerAccount;
    this.#mailsPerAddressPerHour = options.mailsPerAddressPerHour;
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

  /** Counts a request from `ip`; throws `rate_limited` over the limit. */
  async hitIp(ip: string): Promise<void> {
    const { count, resetInMs } = await this.#store.hit(`ip:${ip}`, MINUTE);
    if (count > this.#perIpPerMinute) throw limited(resetInMs);
  }

  /**
   * A password sign-in: counts the request from `ip` and checks the account's
   * failures, in one round trip. Throws `rate_limited`; returns the account's
   * current failure count (so a success need not clear a counter that is zero).
   */
  async beginPasswordSignIn(ip: string, projectId: string, email: string): Promise<number> {
    const [perIp, failures] = await this.#store.hitAndPeek(`ip:${ip}`, MINUTE, accountKey(projectId, email));
    if (perIp.count > this.#perIpPerMinute) throw limited(perIp.resetInMs);
    if (failures.count >= this.#failuresPerAccount) throw limited(failures.resetInMs);
    return failures.count;
  }

  /** Throws `rate_limited` while the account has too many recent failures. */
  async checkAccount(projectId: string, email: string): Promise<void> {
    const { count, resetInMs } = await this.#store.peek(accountKey(projectId, email));
    if (count >= this.#failuresPerAccount) throw limited(resetInMs);
  }

  async recordFailure(projectId: string, email: string): Promise<void> {
    await this.#store.hit(accountKey(projectId, email), FAILURE_WINDOW_MS);
  }

  async clearFailures(projectId: string, email: string): Promise<void> {
    await this.#store.reset(accountKey(projectId, email));
  }
}

const accountKey = (projectId: string, email: string) => `acct:${projectId}:${email.trim().toLowerCase()}`;
