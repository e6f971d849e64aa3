import type { MailJob } from '@gatehouse/contracts';

/**
 * The retry policy both mail queues share: how many deliveries a job gets and
 * how long each failed one waits before the next.
 */
export interface MailRetryOptions {
  /** Deliveries before a job goes to the dead letters (default 8). */
  maxAttempts?: number;
  /**
   * Wait after failed attempt n is `backoffMs[n - 1]`, the last entry
   * repeating (default 2 s, 10 s, 1 min, 5 min, 15 min, 30 min, 1 h: a blip
   * is retried at once, greylisting within minutes, and an SMTP relay may be
   * down for about two hours before a mail goes to the dead letters).
   */
  backoffMs?: number[];
}

export const DEFAULT_MAX_ATTEMPTS = 8;
export const DEFAULT_BACKOFF_MS = [2_000, 10_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000];

/** The resolved policy; throws on a value that could never deliver anything. */
export function retryPolicy(options: MailRetryOptions): { maxAttempts: number; backoffMs: number[] } {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new Error('maxAttempts must be an integer >= 1');
  if (backoffMs.length === 0 || backoffMs.some((ms) => !Number.isFinite(ms) || ms < 0))
    throw new Error('backoffMs must be a non-empty list of delays >= 0');
  return { maxAttempts, backoffMs };
}

/** The wait after failed attempt `attempt` (1-based). */
export function retryDelayMs(backoffMs: number[], attempt: number): number {
  return backoffMs[Math.min(attempt, backoffMs.length) - 1] ?? 0;
}

/**
 * Thrown by a handler when retrying cannot help (the SMTP server refused the
 * recipient for good, say): the job goes to the dead letters at once instead
 * of after its last attempt.
 */
export class PermanentMailError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'PermanentMailError';
  }
}

/** A job that was not delivered, with why. */
export interface MailDeadLetter {
  job: MailJob;
  /** The message of the last error. */
  error: string;
  /** Deliveries made before giving up. */
  attempts: number;
  requestId: string;
  /** When it was dead-lettered (ISO time). */
  at: string;
}

/** The message of anything thrown, on one line (it travels in a header). */
export function errorMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1000);
}
