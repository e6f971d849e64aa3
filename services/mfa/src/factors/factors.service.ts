import { AppError } from '@gatehouse/kit';
import type { MfaChanges } from '../mfa-changes.ts';
import type { PasskeysStore } from '../passkeys/passkeys.store.ts';
import type { TotpService } from '../totp/totp.service.ts';
import type { TotpStore } from '../totp/totp.store.ts';
import type { UserRef } from '../user-ref.ts';

export interface FactorsServiceDeps {
  totp: TotpService;
  totpStore: TotpStore;
  passkeys: PasskeysStore;
  changes: MfaChanges;
}

/**
 * A user's second factors as a whole: the step-up code check (before a
 * sign-in method is added or removed) and forgetting the factors that may be
 * someone else's (identity asks on a password reset, and when an address is
 * proven for the first time).
 */
export class FactorsService {
  readonly #d: FactorsServiceDeps;

  constructor(deps: FactorsServiceDeps) {
    this.#d = deps;
  }

  /** A current TOTP code or an unused recovery code, used up. Throws `invalid_code`. */
  async verifyCode(ref: UserRef, code: string): Promise<void> {
    if (!(await this.#d.totp.verifyCode(ref, code))) throw new AppError('invalid_code', 'the code is not valid');
  }

  /**
   * Removes TOTP (with its recovery codes) if it was turned on at or after
   * `since`, and the passkeys registered since then; everything for null.
   * Identity stops asking for a second factor when TOTP goes; if it cannot be
   * told, TOTP is put back and the error thrown (the caller retries).
   */
  async forget(ref: UserRef, since: Date | null, requestId?: string): Promise<{ totp: boolean; passkeys: number }> {
    const { totpStore, passkeys, changes } = this.#d;
    let totp = false;
    const row = await totpStore.get(ref);
    if (row?.secret_sealed && (since === null || (row.enabled_at !== null && row.enabled_at >= since))) {
      const removed = await totpStore.disable(ref);
      if (removed) {
        try {
          await changes.setMfaEnabled(ref, false, requestId);
        } catch (err) {
          await totpStore.restore(removed);
          throw err;
        }
        totp = true;
        await changes.published(ref, { factor: 'totp', change: 'disabled' }, requestId);
      }
    }
    const count = await passkeys.deleteAddedSince(ref, since);
    if (count > 0) await changes.published(ref, { factor: 'passkey', change: 'disabled' }, requestId);
    return { totp, passkeys: count };
  }
}
