import { AppError, seal, unseal } from '@gatehouse/kit';
import type { MfaKeys } from '../keys.ts';
import type { MfaChanges } from '../mfa-changes.ts';
import type { UserRef } from '../user-ref.ts';
import { hashRecoveryCode, newRecoveryCode, normalizeRecoveryCode, RECOVERY_CODE_COUNT } from './recovery-codes.ts';
import type { TotpStore } from './totp.store.ts';
import { matchTotp, newTotpSecret, normalizeTotpCode, otpauthUrl } from './totp-codes.ts';

/** Which second factor a code proved. */
export type CodeFactor = 'totp' | 'recovery_code';

export interface TotpServiceDeps {
  store: TotpStore;
  keys: MfaKeys;
  changes: MfaChanges;
  clock: () => Date;
}

/**
 * The per-user budget of second-factor codes, shared by every route that
 * checks one (sign-in's `login/mfa`, TOTP disable, recovery-code regeneration,
 * step-ups): 5 wrong codes in 15 minutes, then every code is refused unchecked
 * until the window ends. Per user, not per challenge or per address, so new
 * challenges or new addresses buy no more guesses.
 */
export const CODE_BUDGET = { attempts: 5, windowMs: 15 * 60_000 } as const;

const invalidCode = () => new AppError('invalid_code', 'the code is wrong, expired or already used');

/** The sealing context binds a sealed secret to its user: it cannot be copied to another row. */
export const totpSealContext = (ref: UserRef) => `mfa_totp:${ref.projectId}:${ref.userId}`;

/**
 * TOTP (RFC 6238) and its recovery codes: setup, enable, disable, regenerate,
 * and checking a code for a challenge. A code of a time step already accepted
 * is refused (RFC 6238 §5.2), so a code works once whatever flow it is used in.
 */
export class TotpService {
  readonly #store: TotpStore;
  readonly #keys: MfaKeys;
  readonly #changes: MfaChanges;
  readonly #clock: () => Date;

  constructor(deps: TotpServiceDeps) {
    this.#store = deps.store;
    this.#keys = deps.keys;
    this.#changes = deps.changes;
    this.#clock = deps.clock;
  }

  /** Whether TOTP is on, and how many recovery codes are left unused. */
  async status(ref: UserRef): Promise<{ enabled: boolean; recoveryCodesLeft: number }> {
    const row = await this.#store.get(ref);
    if (!row?.secret_sealed) return { enabled: false, recoveryCodesLeft: 0 };
    return { enabled: true, recoveryCodesLeft: await this.#store.countUnusedRecoveryCodes(ref) };
  }

  /**
   * Starts (or restarts) a setup: a new secret, stored sealed as pending until
   * `enable` proves the app has it. Throws `mfa_already_enabled` when TOTP is on.
   */
  async setup(ref: UserRef, accountName: string): Promise<{ secret: string; otpauthUrl: string }> {
    const row = await this.#store.get(ref);
    if (row?.secret_sealed) throw new AppError('mfa_already_enabled', 'TOTP is already enabled; disable it first');
    const secret = newTotpSecret();
    await this.#store.savePending(ref, seal(this.#keys.seal, secret, totpSealContext(ref)));
    return { secret, otpauthUrl: otpauthUrl(secret, accountName) };
  }

  /**
   * Turns the pending secret on with a valid code from it, and returns the
   * first recovery codes. Identity's `mfa_enabled` is set before this returns;
   * if that fails, the enable is undone and the error thrown.
   * Throws `invalid_challenge` without a pending setup, `mfa_already_enabled`,
   * `invalid_code`.
   */
  async enable(ref: UserRef, typedCode: string, requestId?: string): Promise<string[]> {
    const row = await this.#store.get(ref);
    if (row?.secret_sealed) throw new AppError('mfa_already_enabled', 'TOTP is already enabled');
    const pending = row?.pending_secret_sealed;
    if (!pending) throw new AppError('invalid_challenge', 'start a TOTP setup first');
    const code = normalizeTotpCode(typedCode);
    const step = code ? await matchTotp(this.#unseal(ref, pending), code, this.#clock(), null) : null;
    if (step === null) throw invalidCode();

    const codes = this.#newRecoveryCodes();
    if (
      !(await this.#store.enable(
        ref,
        pending,
        step,
        codes.map((c) => this.#hash(ref, c)),
      ))
    ) {
      // A concurrent setup replaced the secret this code was for, or a concurrent enable won.
      throw invalidCode();
    }
    try {
      await this.#changes.setMfaEnabled(ref, true, requestId);
    } catch (err) {
      await this.#store.undoEnable(ref, pending);
      throw err;
    }
    await this.#changes.published(ref, { factor: 'totp', change: 'enabled' }, requestId);
    return codes;
  }

  /**
   * Turns TOTP off with a current TOTP code or an unused recovery code (which
   * it uses up); the recovery codes go with it. Throws `invalid_code`.
   */
  async disable(ref: UserRef, typedCode: string, requestId?: string): Promise<void> {
    if (!(await this.verifyCode(ref, typedCode))) throw invalidCode();
    const removed = await this.#store.disable(ref);
    if (!removed) return; // A concurrent disable did it already.
    try {
      await this.#changes.setMfaEnabled(ref, false, requestId);
    } catch (err) {
      // Identity would still challenge sign-ins that nothing could answer: put TOTP back.
      await this.#store.restore(removed);
      throw err;
    }
    await this.#changes.published(ref, { factor: 'totp', change: 'disabled' }, requestId);
  }

  /**
   * New recovery codes for a TOTP code or an unused recovery code; every
   * earlier code stops working. Throws `invalid_code`.
   */
  async regenerateRecoveryCodes(ref: UserRef, typedCode: string, requestId?: string): Promise<string[]> {
    if (!(await this.verifyCode(ref, typedCode))) throw invalidCode();
    const codes = this.#newRecoveryCodes();
    await this.#store.replaceRecoveryCodes(
      ref,
      codes.map((c) => this.#hash(ref, c)),
    );
    await this.#changes.published(ref, { factor: 'recovery_codes', change: 'regenerated' }, requestId);
    return codes;
  }

  /**
   * Checks a code typed by a user with TOTP on: six digits are a TOTP code,
   * anything else a recovery code. Uses it up on success (the time step, or
   * the recovery code). Null when the code is wrong, used, or TOTP is off.
   */
  async verifyCode(ref: UserRef, typedCode: string): Promise<CodeFactor | null> {
    return this.#withinBudget(ref, async () => {
      if (normalizeTotpCode(typedCode)) return (await this.verifyTotp(ref, typedCode)) ? 'totp' : null;
      return (await this.#useRecoveryCode(ref, typedCode)) ? 'recovery_code' : null;
    });
  }

  /**
   * Runs a code check on the user's budget (CODE_BUDGET): the attempt is
   * claimed before the code is checked, so concurrent guesses cannot exceed
   * it; a right code clears it. Over budget: `rate_limited`, the code unchecked.
   */
  async #withinBudget<T>(ref: UserRef, check: () => Promise<T | null>): Promise<T | null> {
    const now = this.#clock();
    const claim = await this.#store.claimCodeAttempt(ref, now, CODE_BUDGET.windowMs);
    if (claim.attempts > CODE_BUDGET.attempts) {
      const resetInMs = claim.windowStartedAt.getTime() + CODE_BUDGET.windowMs - now.getTime();
      throw new AppError('rate_limited', 'too many wrong codes: the second factor is locked for a while', {
        retryAfter: Math.max(1, Math.ceil(resetInMs / 1000)),
      });
    }
    const result = await check();
    if (result) await this.#store.clearCodeAttempts(ref);
    return result;
  }

  /** A TOTP code, once: true when it is valid now and its step is newer than the last accepted one. */
  async verifyTotp(ref: UserRef, typedCode: string): Promise<boolean> {
    const code = normalizeTotpCode(typedCode);
    if (!code) return false;
    const row = await this.#store.get(ref);
    if (!row?.secret_sealed) return false;
    const last = row.last_used_step === null ? null : Number(row.last_used_step);
    const step = await matchTotp(this.#unseal(ref, row.secret_sealed), code, this.#clock(), last);
    // The conditional update settles a race between two uses of the same code.
    return step !== null && (await this.#store.acceptStep(ref, step));
  }

  /**
   * A recovery code, once: true when it was an unused code of this user with
   * TOTP on. A code issued before a SECRET_KEY rotation is stored under an
   * earlier key, so the code is looked up under each accepted key; regenerated
   * codes are stored under the current one.
   */
  async useRecoveryCode(ref: UserRef, typedCode: string): Promise<boolean> {
    return (await this.#withinBudget(ref, () => this.#useRecoveryCode(ref, typedCode))) ?? false;
  }

  async #useRecoveryCode(ref: UserRef, typedCode: string): Promise<boolean> {
    const code = normalizeRecoveryCode(typedCode);
    if (!code) return false;
    const hashes = this.#keys.recoveryCodesAccepted.map((key) =>
      hashRecoveryCode(key, ref.projectId, ref.userId, code),
    );
    return this.#store.useRecoveryCode(ref, hashes);
  }

  #newRecoveryCodes(): string[] {
    return Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  }

  #hash(ref: UserRef, code: string): string {
    return hashRecoveryCode(this.#keys.recoveryCodes, ref.projectId, ref.userId, normalizeRecoveryCode(code) ?? code);
  }

  #unseal(ref: UserRef, sealed: string): string {
    return unseal(this.#keys.seal, sealed, totpSealContext(ref));
  }
}
