import { Type } from '@sinclair/typebox';
import { Passkey, SecondFactorCode, WebAuthnJson } from '../fields.ts';
import { Amr, Uuid } from '../objects.ts';
import { requests } from '../subjects.ts';
import { Empty, EmptyRequest, Request, strict, UserRef } from './shapes.ts';

const RecoveryCodes = Type.Object({ recovery_codes: Type.Array(Type.String(), { minItems: 10, maxItems: 10 }) });

/** The mfa service's subjects: TOTP, recovery codes, MFA challenges and passkeys. */
export const mfaRequests = {
  [requests.mfaStatus]: {
    request: Type.Object(UserRef.properties, strict),
    response: Type.Object({
      totp: Type.Boolean(),
      passkeys: Type.Integer({ minimum: 0 }),
      recovery_codes_left: Type.Integer({ minimum: 0 }),
    }),
  },
  [requests.mfaTotpSetup]: {
    /** `account_name`: the label in the authenticator app (the email, or the name). `mfa_already_enabled` when on. */
    request: Type.Composite(
      [UserRef, Type.Object({ account_name: Type.String({ minLength: 1, maxLength: 254 }) })],
      strict,
    ),
    response: Type.Object({ secret: Type.String(), otpauth_url: Type.String() }),
  },
  [requests.mfaTotpEnable]: {
    /** `invalid_code` for a wrong code; `invalid_challenge` when setup was not called first. */
    request: Type.Composite([UserRef, Type.Object({ code: SecondFactorCode })], strict),
    response: RecoveryCodes,
  },
  [requests.mfaTotpDisable]: {
    /** `code`: a current TOTP code or an unused recovery code. `invalid_code` otherwise. */
    request: Type.Composite([UserRef, Type.Object({ code: SecondFactorCode })], strict),
    response: Empty,
  },
  [requests.mfaRecoveryRegenerate]: {
    request: Type.Composite([UserRef, Type.Object({ code: SecondFactorCode })], strict),
    response: RecoveryCodes,
  },
  [requests.mfaChallengeCreate]: {
    /** `amr`: the first factor's (`["pwd"]`, `["magic_link"]`, ...); the challenge adds the second. */
    request: Type.Composite([UserRef, Type.Object({ amr: Amr })], strict),
    response: Type.Object({
      mfa_token: Type.String(),
      methods: Type.Array(Type.String()),
      expires_in: Type.Integer(),
    }),
  },
  [requests.mfaChallengeVerify]: {
    /**
     * Exactly one of `code`, `recovery_code`, `webauthn` (an authentication
     * response to options from `mfa.passkey.login_options` with this `mfa_token`).
     * `invalid_token`: unknown, expired, used, or out of tries (5 wrong codes);
     * `invalid_code`: a wrong code (counted). Single use on success.
     */
    request: Request({
      mfa_token: Type.String({ maxLength: 256 }),
      code: Type.Optional(SecondFactorCode),
      recovery_code: Type.Optional(SecondFactorCode),
      webauthn: Type.Optional(WebAuthnJson),
    }),
    response: Type.Composite([UserRef, Type.Object({ amr: Amr })]),
  },
  [requests.mfaPasskeyRegisterOptions]: {
    request: Type.Composite(
      [
        UserRef,
        Type.Object({
          user_name: Type.String({ minLength: 1, maxLength: 254 }),
          user_display_name: Type.String({ maxLength: 254 }),
        }),
      ],
      strict,
    ),
    /** PublicKeyCredentialCreationOptionsJSON. */
    response: Type.Object({ options: WebAuthnJson }),
  },
  [requests.mfaPasskeyRegisterVerify]: {
    /** `invalid_challenge` for an unknown, used or expired challenge; `validation_failed` for a bad response. */
    request: Type.Composite(
      [UserRef, Type.Object({ response: WebAuthnJson, name: Type.Optional(Type.String({ maxLength: 100 })) })],
      strict,
    ),
    response: Type.Object({ passkey: Passkey }),
  },
  [requests.mfaPasskeyLoginOptions]: {
    /**
     * No user: discoverable (usernameless) sign-in. `user_id`: that user's
     * passkeys (the gateway found it by email). `mfa_token`: the challenge's
     * user, for completing an MFA challenge. `email_hint`: an address with no
     * user, answered with stand-in credentials so the answer reveals nothing.
     */
    request: Request({
      project_id: Uuid,
      user_id: Type.Optional(Uuid),
      mfa_token: Type.Optional(Type.String({ maxLength: 256 })),
      email_hint: Type.Optional(Type.String({ maxLength: 254 })),
    }),
    /** PublicKeyCredentialRequestOptionsJSON and the id to send back with the response. */
    response: Type.Object({ challenge_id: Uuid, options: WebAuthnJson }),
  },
  [requests.mfaPasskeyLoginVerify]: {
    /** `invalid_sign_in_challenge` (unknown, used, expired); `invalid_credentials` for any failed verification. */
    request: Request({ project_id: Uuid, challenge_id: Uuid, response: WebAuthnJson }),
    response: Type.Composite([UserRef, Type.Object({ amr: Amr })]),
  },
  [requests.mfaPasskeyList]: {
    request: Type.Object(UserRef.properties, strict),
    response: Type.Object({ passkeys: Type.Array(Passkey) }),
  },
  [requests.mfaPasskeyDelete]: {
    /** `not_found` (also another user's); `last_login_method` when it is the last passkey of a user without a password. */
    request: Type.Composite([UserRef, Type.Object({ passkey_id: Uuid, has_password: Type.Boolean() })], strict),
    response: Empty,
  },
  [requests.mfaVerifyCode]: {
    /** A step-up: a current TOTP code or an unused recovery code of the user (used up). `invalid_code` otherwise. */
    request: Type.Composite([UserRef, Type.Object({ code: SecondFactorCode })], strict),
    response: Empty,
  },
  [requests.mfaForgetFactors]: {
    /**
     * Removes the user's second factors added at or after `added_since` (all
     * of them without it): TOTP with its recovery codes, and passkeys. The
     * answer says what went.
     */
    request: Type.Composite(
      [UserRef, Type.Object({ added_since: Type.Optional(Type.String({ format: 'date-time' })) })],
      strict,
    ),
    response: Type.Object({ totp: Type.Boolean(), passkeys: Type.Integer({ minimum: 0 }) }),
  },
  [requests.mfaHealth]: { request: EmptyRequest, response: Type.Object({ ok: Type.Boolean() }) },
};
