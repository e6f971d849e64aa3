import { createHmac, randomBytes } from 'node:crypto';
import type { Passkey } from '@gatehouse/contracts';
import { AppError, addressKey, newId, validate } from '@gatehouse/kit';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { PasskeyRow } from '../db/schema.ts';
import type { MfaKeys } from '../keys.ts';
import type { MfaChanges } from '../mfa-changes.ts';
import type { UserRef } from '../user-ref.ts';
import type { PasskeysStore } from './passkeys.store.ts';
import type { RelyingParty } from './relying-party.ts';
import type { WebAuthnChallengesStore } from './webauthn-challenges.store.ts';
import {
  AuthenticationResponse,
  challengeOf,
  knownTransports,
  RegistrationResponse,
  toAuthenticationJson,
  toRegistrationJson,
} from './webauthn-json.ts';

/** WebAuthn challenges live 5 minutes, as MFA challenges do; the browser's own timeout matches. */
export const WEBAUTHN_CHALLENGE_TTL_SECONDS = 300;
const DEFAULT_NAME = 'Passkey';

/** Whose passkeys a sign-in's options name. */
export type LoginTarget =
  | { kind: 'discoverable' }
  | { kind: 'user'; userId: string }
  | { kind: 'mfa'; challengeId: string; userId: string }
  | { kind: 'unknown_email'; email: string };

export interface PasskeysServiceDeps {
  store: PasskeysStore;
  challenges: WebAuthnChallengesStore;
  relyingParty: RelyingParty;
  keys: MfaKeys;
  changes: MfaChanges;
  clock: () => Date;
}

const isAuthenticationResponse = TypeCompiler.Compile(AuthenticationResponse);
const invalidCredentials = () => new AppError('invalid_credentials', 'the passkey could not be verified');
const toInfo = (row: PasskeyRow): Passkey => ({
  id: row.id,
  name: row.name,
  created_at: row.created_at.toISOString(),
  last_used_at: row.last_used_at?.toISOString() ?? null,
});
/** WebAuthn's user handle: the user id's 16 bytes (no personal data, as WebAuthn §14.6.1 asks). */
const userHandleOf = (userId: string): Uint8Array<ArrayBuffer> =>
  new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));

/**
 * Passkeys (WebAuthn, through @simplewebauthn/server): registration,
 * passwordless sign-in, and completing an MFA challenge. Every challenge is
 * single use and lives 5 minutes; every failed verification of a sign-in is
 * the same `invalid_credentials`, whatever failed.
 */
export class PasskeysService {
  readonly #store: PasskeysStore;
  readonly #challenges: WebAuthnChallengesStore;
  readonly #rp: RelyingParty;
  readonly #keys: MfaKeys;
  readonly #changes: MfaChanges;
  readonly #clock: () => Date;

  constructor(deps: PasskeysServiceDeps) {
    this.#store = deps.store;
    this.#challenges = deps.challenges;
    this.#rp = deps.relyingParty;
    this.#keys = deps.keys;
    this.#changes = deps.changes;
    this.#clock = deps.clock;
  }

  async list(ref: UserRef): Promise<Passkey[]> {
    return (await this.#store.listByUser(ref)).map(toInfo);
  }

  count(ref: UserRef): Promise<number> {
    return this.#store.countByUser(ref);
  }

  /**
   * Creation options for a new passkey of the user: discoverable (so it can
   * sign in without a username), user verification preferred, the user's
   * existing passkeys excluded.
   */
  async registrationOptions(
    ref: UserRef,
    user: { name: string; displayName: string },
  ): Promise<Record<string, unknown>> {
    const existing = await this.#store.listByUser(ref);
    const options = await generateRegistrationOptions({
      rpName: this.#rp.name,
      rpID: this.#rp.id,
      userName: user.name,
      userDisplayName: user.displayName,
      userID: userHandleOf(ref.userId),
      challenge: randomBytes(32),
      timeout: WEBAUTHN_CHALLENGE_TTL_SECONDS * 1000,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.credential_id, transports: p.transports })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'preferred' },
    });
    await this.#challenges.create({
      id: newId(),
      projectId: ref.projectId,
      userId: ref.userId,
      mfaChallengeId: null,
      ceremony: 'registration',
      challenge: options.challenge,
      expiresAt: this.#expiry(),
    });
    return { ...options };
  }

  /**
   * Registers the passkey of a creation response. The challenge is found by
   * the value the response echoes, among this user's unused ones.
   * Throws `validation_failed` (malformed or unverifiable response, passkey
   * already registered), `invalid_challenge` (unknown, used, expired).
   */
  async register(ref: UserRef, rawResponse: Record<string, unknown>, name?: string, requestId?: string) {
    const response = validate(RegistrationResponse, rawResponse, 'passkey registration response');
    const challenge = challengeOf(response.response.clientDataJSON);
    const row =
      challenge &&
      (await this.#challenges.consume(
        { projectId: ref.projectId, ceremony: 'registration', challenge, userId: ref.userId, mfaChallengeId: null },
        this.#clock(),
      ));
    if (!row) throw new AppError('invalid_challenge', 'the registration challenge is unknown, used or expired');

    const unverifiable = (cause?: unknown) =>
      new AppError('validation_failed', 'the passkey response could not be verified', {
        cause,
        details: [{ field: '/response', message: 'not a valid registration for this site and challenge' }],
      });
    const verification = await verifyRegistrationResponse({
      response: toRegistrationJson(response),
      expectedChallenge: row.challenge,
      expectedOrigin: this.#rp.origins,
      expectedRPID: this.#rp.id,
      // Matches the options' 'preferred': a security key without a PIN may register.
      requireUserVerification: false,
    }).catch((err: unknown) => {
      throw unverifiable(err);
    });
    if (!verification.verified) throw unverifiable();

    const { credential } = verification.registrationInfo;
    const passkey = await this.#store.insert({
      id: newId(),
      ...ref,
      credentialId: credential.id,
      publicKey: credential.publicKey,
      counter: credential.counter,
      transports: knownTransports(credential.transports ?? response.response.transports),
      name: name?.trim() || DEFAULT_NAME,
    });
    await this.#changes.published(ref, { factor: 'passkey', change: 'enabled' }, requestId);
    return toInfo(passkey);
  }

  /**
   * Request options for a sign-in, and the id to send back with the response.
   * Passwordless sign-ins require user verification (the passkey is then both
   * factors); an MFA challenge only needs possession. An unknown address, or
   * a user without passkeys, gets stand-in credential ids derived from it, so
   * the answer does not tell who has an account or a passkey.
   */
  async loginOptions(
    projectId: string,
    target: LoginTarget,
  ): Promise<{ challengeId: string; options: Record<string, unknown> }> {
    let allowCredentials: { id: string; transports?: string[] }[] | undefined;
    if (target.kind === 'user' || target.kind === 'mfa') {
      const own = await this.#store.listByUser({ projectId, userId: target.userId });
      allowCredentials = own.map((p) => ({ id: p.credential_id, transports: p.transports }));
      // An MFA challenge's user is known to whoever holds its token: no stand-ins needed. With no
      // passkey the list stays empty, and the verify still admits only this user's passkeys.
      if (own.length === 0 && target.kind === 'user') allowCredentials = this.#standIns(projectId, target.userId);
    } else if (target.kind === 'unknown_email') {
      // The canonical address identity looks accounts up by: every spelling of one
      // mailbox gets the same stand-ins, as every spelling of a known one gets its passkeys.
      allowCredentials = this.#standIns(projectId, addressKey(target.email));
    }
    const options = await generateAuthenticationOptions({
      rpID: this.#rp.id,
      challenge: randomBytes(32),
      timeout: WEBAUTHN_CHALLENGE_TTL_SECONDS * 1000,
      userVerification: target.kind === 'mfa' ? 'preferred' : 'required',
      ...(allowCredentials ? { allowCredentials } : {}),
    });
    const challengeId = newId();
    await this.#challenges.create({
      id: challengeId,
      projectId,
      userId: target.kind === 'user' || target.kind === 'mfa' ? target.userId : null,
      mfaChallengeId: target.kind === 'mfa' ? target.challengeId : null,
      ceremony: 'authentication',
      challenge: options.challenge,
      expiresAt: this.#expiry(),
    });
    return { challengeId, options: { ...options } };
  }

  /**
   * A passwordless sign-in: the user whose passkey signed the challenge
   * `challengeId`. Throws `invalid_sign_in_challenge` (unknown, used, expired; a
   * challenge is used up by any attempt) and `invalid_credentials` for every
   * verification failure alike.
   */
  async login(projectId: string, challengeId: string, response: Record<string, unknown>): Promise<UserRef> {
    const row = await this.#challenges.consume(
      { projectId, ceremony: 'authentication', id: challengeId, mfaChallengeId: null },
      this.#clock(),
    );
    if (!row) throw new AppError('invalid_sign_in_challenge', 'the sign-in challenge is unknown, used or expired');
    const passkey = await this.#verifyAssertion(row, response, true);
    if (!passkey) throw invalidCredentials();
    return { projectId: passkey.project_id, userId: passkey.user_id };
  }

  /**
   * The second factor of an MFA challenge: true when a passkey of the
   * challenge's user signed options made for this challenge. Uses up those
   * options whatever the outcome.
   */
  async verifyForChallenge(challenge: { id: string } & UserRef, response: Record<string, unknown>): Promise<boolean> {
    if (!isAuthenticationResponse.Check(response)) return false;
    const value = challengeOf(response.response.clientDataJSON);
    const row =
      value &&
      (await this.#challenges.consume(
        {
          projectId: challenge.projectId,
          ceremony: 'authentication',
          challenge: value,
          userId: challenge.userId,
          mfaChallengeId: challenge.id,
        },
        this.#clock(),
      ));
    if (!row) return false;
    return (await this.#verifyAssertion(row, response, false)) !== null;
  }

  /**
   * Deletes the user's passkey. Throws `not_found` (also for another user's)
   * and `last_login_method` for the last passkey of a user with no password.
   */
  async delete(ref: UserRef, passkeyId: string, hasPassword: boolean, requestId?: string): Promise<void> {
    const outcome = await this.#store.deleteOwned(ref, passkeyId, { keepOne: !hasPassword });
    if (outcome === 'not_found') throw new AppError('not_found', 'no such passkey');
    if (outcome === 'last_passkey') {
      throw new AppError('last_login_method', 'this passkey is the only way to sign in; set a password first');
    }
    await this.#changes.published(ref, { factor: 'passkey', change: 'disabled' }, requestId);
  }

  /**
   * Checks an assertion against a used-up challenge row; the passkey on
   * success (its counter and last use recorded), null on any failure.
   */
  async #verifyAssertion(
    row: { project_id: string; user_id: string | null; challenge: string },
    raw: Record<string, unknown>,
    requireUserVerification: boolean,
  ): Promise<PasskeyRow | null> {
    if (!isAuthenticationResponse.Check(raw)) return null;
    const passkey = await this.#store.findByCredentialId(row.project_id, raw.id);
    if (!passkey) return null;
    // Options for one user admit only that user's passkeys.
    if (row.user_id !== null && passkey.user_id !== row.user_id) return null;
    const handle = raw.response.userHandle;
    if (handle && handle !== Buffer.from(userHandleOf(passkey.user_id)).toString('base64url')) return null;
    try {
      const { verified, authenticationInfo } = await verifyAuthenticationResponse({
        response: toAuthenticationJson(raw),
        expectedChallenge: row.challenge,
        expectedOrigin: this.#rp.origins,
        expectedRPID: this.#rp.id,
        credential: {
          id: passkey.credential_id,
          publicKey: new Uint8Array(passkey.public_key),
          // The library refuses a counter that did not grow when either is non-zero (a cloned authenticator).
          counter: Number(passkey.counter),
          transports: knownTransports(passkey.transports),
        },
        requireUserVerification,
      });
      if (!verified) return null;
      const at = this.#clock();
      // Of two assertions racing with the same counter, only one is recorded.
      if (!(await this.#store.recordUse(passkey.id, Number(passkey.counter), authenticationInfo.newCounter, at)))
        return null;
      return passkey;
    } catch (err) {
      if (err instanceof AppError) throw err;
      return null;
    }
  }

  /**
   * Credential ids that look real and stay the same for the same subject (an
   * HMAC under a key derived from SECRET_KEY), one or two of them, for answers
   * that must not reveal that no passkey exists.
   */
  #standIns(projectId: string, subject: string): { id: string; transports: string[] }[] {
    const mac = (part: string) =>
      createHmac('sha256', this.#keys.standIns).update(`${projectId}:${subject}:${part}`).digest();
    const count = 1 + ((mac('count')[0] ?? 0) % 2);
    return Array.from({ length: count }, (_, i) => ({
      id: mac(String(i)).toString('base64url'),
      transports: ['internal', 'hybrid'],
    }));
  }

  #expiry(): Date {
    return new Date(this.#clock().getTime() + WEBAUTHN_CHALLENGE_TTL_SECONDS * 1000);
  }
}
