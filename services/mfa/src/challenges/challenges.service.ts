import { createHash, randomBytes } from 'node:crypto';
import { AppError, newId } from '@gatehouse/kit';
import type { TotpService } from '../totp/totp.service.ts';
import type { UserRef } from '../user-ref.ts';
import type { ChallengesStore } from './challenges.store.ts';

/** The HTTP contract's MfaChallenge lifetime: 5 minutes. */
export const CHALLENGE_TTL_SECONDS = 300;

/**
 * The `amr` value each second factor adds to the first factor's
 * (RFC 8176 where it has one):
 * - `otp`: a TOTP code (RFC 8176 "otp").
 * - `recovery_code`: a recovery code. RFC 8176 has no value for a look-up
 *   secret; a distinct one lets a relying party tell a recovered sign-in apart.
 * - `webauthn`: a passkey, as the HTTP contract names passkey sign-ins
 *   (RFC 8176 would say `hwk` or `swk`, plus `user` for verification).
 */
export const SECOND_FACTOR_AMR = { totp: 'otp', recovery_code: 'recovery_code', webauthn: 'webauthn' } as const;

/** What challenges need from passkeys. */
export interface ChallengePasskeys {
  count(ref: UserRef): Promise<number>;
  /**
   * Checks a WebAuthn authentication response against options made for this
   * challenge (`mfa.passkey.login_options` with its token); true when a
   * passkey of the challenge's user signed it.
   */
  verifyForChallenge(challenge: { id: string } & UserRef, response: Record<string, unknown>): Promise<boolean>;
}

/** A live challenge, as other features see it. */
export interface LiveChallenge extends UserRef {
  id: string;
}

/** One of these proves the second factor. */
export interface SecondFactorProof {
  /** A TOTP code; a recovery code typed in the code field is accepted too. */
  code?: string | undefined;
  recoveryCode?: string | undefined;
  webauthn?: Record<string, unknown> | undefined;
}

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');
const invalidToken = () => new AppError('invalid_token', 'the MFA token is invalid, expired or used up');

/**
 * MFA challenges: a sign-in whose first factor succeeded waits here for the
 * second. The token is 256 random bits, stored only as its SHA-256; it lives
 * 5 minutes, allows 5 tries, and is used up by the first success.
 */
export class ChallengesService {
  readonly #store: ChallengesStore;
  readonly #totp: TotpService;
  readonly #passkeys: ChallengePasskeys;
  readonly #clock: () => Date;

  constructor(deps: { store: ChallengesStore; totp: TotpService; passkeys: ChallengePasskeys; clock: () => Date }) {
    this.#store = deps.store;
    this.#totp = deps.totp;
    this.#passkeys = deps.passkeys;
    this.#clock = deps.clock;
  }

  /**
   * A challenge for a user with TOTP on, after a first factor with `amr`.
   * Throws `invalid_challenge` when the user has no TOTP: passkeys alone do
   * not turn the challenge on (the HTTP contract), and a user identity still
   * flags (a lost race) should be let in on the first factor, not stranded.
   */
  async create(ref: UserRef, amr: string[]): Promise<{ mfaToken: string; methods: string[]; expiresIn: number }> {
    const { enabled } = await this.#totp.status(ref);
    if (!enabled) throw new AppError('invalid_challenge', 'this user has no second factor to challenge');
    const methods = ['totp', 'recovery_code'];
    if ((await this.#passkeys.count(ref)) > 0) methods.push('webauthn');
    const mfaToken = randomBytes(32).toString('base64url');
    await this.#store.create({
      id: newId(),
      ...ref,
      tokenHash: hashOf(mfaToken),
      amr,
      expiresAt: new Date(this.#clock().getTime() + CHALLENGE_TTL_SECONDS * 1000),
    });
    return { mfaToken, methods, expiresIn: CHALLENGE_TTL_SECONDS };
  }

  /** The live challenge of `mfaToken`; throws `invalid_token`. */
  async live(mfaToken: string): Promise<LiveChallenge> {
    const row = await this.#store.findLive(hashOf(mfaToken), this.#clock());
    if (!row) throw invalidToken();
    return { id: row.id, projectId: row.project_id, userId: row.user_id };
  }

  /**
   * Completes a challenge with exactly one proof. Every try counts, right or
   * wrong, before it is checked, so concurrent guesses cannot exceed 5.
   * Returns the user and the `amr` of both factors. Throws `invalid_token`
   * (unknown, expired, used, out of tries), `invalid_code` (a wrong TOTP or
   * recovery code), `invalid_credentials` (a passkey that did not verify),
   * `validation_failed` (not exactly one proof).
   */
  async verify(mfaToken: string, proof: SecondFactorProof): Promise<{ ref: UserRef; amr: string[] }> {
    const given = [proof.code, proof.recoveryCode, proof.webauthn].filter((p) => p !== undefined).length;
    if (given !== 1) {
      throw new AppError('validation_failed', 'send exactly one of code, recovery_code or webauthn', {
        details: [{ field: '/code', message: 'exactly one of code, recovery_code, webauthn' }],
      });
    }
    const row = await this.#store.findLive(hashOf(mfaToken), this.#clock());
    if (!row || !(await this.#store.claimAttempt(row.id, this.#clock()))) throw invalidToken();
    const ref = { projectId: row.project_id, userId: row.user_id };

    let factor: keyof typeof SECOND_FACTOR_AMR | null = null;
    if (proof.code !== undefined) factor = await this.#totp.verifyCode(ref, proof.code);
    else if (proof.recoveryCode !== undefined) {
      factor = (await this.#totp.useRecoveryCode(ref, proof.recoveryCode)) ? 'recovery_code' : null;
    } else if (proof.webauthn !== undefined) {
      const ok = await this.#passkeys.verifyForChallenge({ id: row.id, ...ref }, proof.webauthn);
      if (!ok) throw new AppError('invalid_credentials', 'the passkey could not be verified');
      factor = 'webauthn';
    }
    if (!factor) throw new AppError('invalid_code', 'the code is wrong, expired or already used');

    if (!(await this.#store.consume(row.id, this.#clock()))) throw invalidToken();
    const amr = [...row.amr];
    if (!amr.includes(SECOND_FACTOR_AMR[factor])) amr.push(SECOND_FACTOR_AMR[factor]);
    return { ref, amr };
  }
}
