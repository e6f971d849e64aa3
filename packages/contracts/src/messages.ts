import { type Static, type TProperties, type TSchema, Type } from '@sinclair/typebox';
import { Amr, AvatarUrl, Jwk, Metadata, Role, SessionInfo, UserRecord, Uuid } from './objects.ts';
import { events, requests } from './subjects.ts';

/**
 * Requests refuse fields their subject does not name: a caller that forwards
 * more than it means to (an HTTP body spread into a payload) fails loudly
 * instead of letting the extra field override the caller's identity.
 */
const strict = { additionalProperties: false } as const;
const Request = <T extends TProperties>(properties: T) => Type.Object(properties, strict);

const Email = Type.String({ minLength: 3, maxLength: 254 });
const Password = Type.String({ minLength: 8, maxLength: 128 });
const Empty = Type.Object({});
const EmptyRequest = Type.Object({}, strict);
/** A one-time token as it arrives from a link: 43 base64url characters when well formed. */
const OneTimeToken = Type.String({ minLength: 1, maxLength: 256 });
/** An absolute URL the gateway has already checked against REDIRECT_ALLOWLIST. */
const RedirectTo = Type.Optional(Type.String({ maxLength: 2048 }));
/** A user, named by project and id. */
const UserRef = Type.Object({ project_id: Uuid, user_id: Uuid });
/** A TOTP code (6 digits) or a recovery code, as typed: spaces and dashes are ignored. */
const Code = Type.String({ minLength: 1, maxLength: 64 });
const RecoveryCodes = Type.Object({ recovery_codes: Type.Array(Type.String(), { minItems: 10, maxItems: 10 }) });
/** A WebAuthn JSON object (options, or a browser's credential response), checked by @simplewebauthn/server. */
const WebAuthnJson = Type.Record(Type.String(), Type.Unknown());
const Passkey = Type.Object({
  id: Uuid,
  name: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

/** Where a request came from, for notices ("your password was changed from ..."). */
const Client = {
  ip: Type.Optional(Type.String({ maxLength: 64 })),
  user_agent: Type.Optional(Type.String({ maxLength: 512 })),
};

const Tokens = Type.Object({
  access_token: Type.String(),
  expires_in: Type.Integer(),
  refresh_token: Type.String(),
  session_id: Uuid,
});

/** Request and response schema of every request subject. Both ends validate against them. */
export const requestSchemas = {
  [requests.identityRegister]: {
    request: Request({
      project_id: Uuid,
      email: Email,
      password: Password,
      name: Type.Optional(Type.String({ maxLength: 200 })),
      metadata: Type.Optional(Metadata),
      /** Where the verification email's link leads. */
      redirect_to: RedirectTo,
    }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityAuthenticate]: {
    request: Request({ project_id: Uuid, email: Type.String(), password: Type.String() }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityGetUser]: {
    request: Request({ project_id: Uuid, user_id: Uuid }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityUpdateUser]: {
    request: Request({
      project_id: Uuid,
      user_id: Uuid,
      name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
      avatar_url: Type.Optional(Type.Union([AvatarUrl, Type.Null()])),
      metadata: Type.Optional(Metadata),
    }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityDeleteUser]: {
    request: Request({
      project_id: Uuid,
      user_id: Uuid,
      password: Type.Optional(Type.String()),
      /** The caller signed in within RECENT_SIGN_IN_SECONDS: enough for a user with no password. */
      fresh_sign_in: Type.Boolean(),
    }),
    response: Empty,
  },
  [requests.identityChangePassword]: {
    request: Request({
      project_id: Uuid,
      user_id: Uuid,
      current_password: Type.String(),
      new_password: Password,
      ...Client,
    }),
    response: Empty,
  },
  [requests.identityVerifyEmail]: {
    request: Request({ project_id: Uuid, token: OneTimeToken }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityResendVerification]: {
    request: Request({ project_id: Uuid, user_id: Uuid, redirect_to: RedirectTo }),
    response: Empty,
  },
  [requests.identityForgotPassword]: {
    request: Request({ project_id: Uuid, email: Email, redirect_to: RedirectTo }),
    response: Empty,
  },
  [requests.identityResetPassword]: {
    /**
     * Ends every session and removes the second factors added in the last
     * RESET_REMOVES_FACTORS_DAYS (all of them for an address never proven
     * before) first, then sets the password: a failure before the commit leaves
     * the link usable. `session_ids`: the sessions it ended.
     */
    request: Request({ project_id: Uuid, token: OneTimeToken, password: Password, ...Client }),
    response: Type.Object({ user: UserRecord, session_ids: Type.Array(Uuid) }),
  },
  [requests.identitySendMagicLink]: {
    request: Request({ project_id: Uuid, email: Email, redirect_to: RedirectTo }),
    response: Empty,
  },
  [requests.identityVerifyMagicLink]: {
    request: Request({ project_id: Uuid, token: OneTimeToken }),
    /**
     * `created`: the link signed up a new user. For an account whose address
     * was never proven before, what was set up before this proof (a password,
     * second factors, sessions: possibly someone else's) is removed first;
     * `session_ids` names the sessions that ended.
     */
    response: Type.Object({ user: UserRecord, created: Type.Boolean(), session_ids: Type.Array(Uuid) }),
  },
  [requests.identityCreateGuest]: {
    request: Request({ project_id: Uuid, name: Type.Optional(Type.String({ maxLength: 200 })) }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityConvertGuest]: {
    request: Request({
      project_id: Uuid,
      user_id: Uuid,
      email: Email,
      password: Password,
      name: Type.Optional(Type.String({ maxLength: 200 })),
    }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityHealth]: { request: EmptyRequest, response: Type.Object({ ok: Type.Boolean() }) },
  [requests.sessionCreate]: {
    request: Request({
      user_id: Uuid,
      project_id: Uuid,
      role: Role,
      amr: Amr,
      ip: Type.Optional(Type.String({ maxLength: 64 })),
      user_agent: Type.Optional(Type.String({ maxLength: 512 })),
    }),
    response: Tokens,
  },
  [requests.sessionRefresh]: {
    request: Request({
      refresh_token: Type.String({ maxLength: 512 }),
      ip: Type.Optional(Type.String({ maxLength: 64 })),
      user_agent: Type.Optional(Type.String({ maxLength: 512 })),
    }),
    response: Type.Composite([Tokens, Type.Object({ user_id: Uuid, project_id: Uuid })]),
  },
  [requests.sessionRevoke]: {
    /** With `user_id`, a session of another user is `not_found`. */
    request: Request({ session_id: Uuid, user_id: Type.Optional(Uuid), reason: Type.String() }),
    response: Empty,
  },
  [requests.sessionRevokeUser]: {
    request: Request({ user_id: Uuid, except_session_id: Type.Optional(Uuid), reason: Type.String() }),
    response: Type.Object({ session_ids: Type.Array(Uuid) }),
  },
  [requests.sessionList]: {
    request: Request({ user_id: Uuid }),
    response: Type.Object({ sessions: Type.Array(SessionInfo) }),
  },
  [requests.sessionRevocations]: {
    request: EmptyRequest,
    /** `until`: epoch milliseconds after which no access token can still carry the id. */
    response: Type.Object({ revoked: Type.Array(Type.Object({ session_id: Uuid, until: Type.Integer() })) }),
  },
  [requests.sessionJwks]: {
    /** `kid`: the key the caller looks for (a token's); the session service re-reads its keys when it does not know it. */
    request: Request({ kid: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) }),
    response: Type.Object({ keys: Type.Array(Jwk) }),
  },
  [requests.sessionHealth]: { request: EmptyRequest, response: Type.Object({ ok: Type.Boolean() }) },
  [requests.identitySetMfa]: {
    /** The mfa service records whether a user has TOTP on, so sign-ins know to challenge. */
    request: Request({ project_id: Uuid, user_id: Uuid, mfa_enabled: Type.Boolean() }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityVerifyPassword]: {
    /** A signed-in user proves it is still them (a step-up): `invalid_credentials` for a wrong password or none. */
    request: Request({ project_id: Uuid, user_id: Uuid, password: Type.String({ maxLength: 1024 }) }),
    response: Empty,
  },
  [requests.identityFactorAdded]: {
    /** Mails the user that a sign-in method was added (best effort: a queue failure is logged). */
    request: Request({
      project_id: Uuid,
      user_id: Uuid,
      factor: Type.Union([Type.Literal('totp'), Type.Literal('passkey')]),
      name: Type.Optional(Type.String({ maxLength: 100 })),
      ...Client,
    }),
    response: Empty,
  },
  [requests.identityFindUser]: {
    /** The user with this email, or null: for the gateway's passkey sign-in by email. */
    request: Request({ project_id: Uuid, email: Type.String({ maxLength: 254 }) }),
    response: Type.Object({ user: Type.Union([UserRecord, Type.Null()]) }),
  },
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
    request: Type.Composite([UserRef, Type.Object({ code: Code })], strict),
    response: RecoveryCodes,
  },
  [requests.mfaTotpDisable]: {
    /** `code`: a current TOTP code or an unused recovery code. `invalid_code` otherwise. */
    request: Type.Composite([UserRef, Type.Object({ code: Code })], strict),
    response: Empty,
  },
  [requests.mfaRecoveryRegenerate]: {
    request: Type.Composite([UserRef, Type.Object({ code: Code })], strict),
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
      code: Type.Optional(Code),
      recovery_code: Type.Optional(Code),
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
    /** `invalid_challenge` (unknown, used, expired); `invalid_credentials` for any failed verification. */
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
    request: Type.Composite([UserRef, Type.Object({ code: Code })], strict),
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
  [requests.mailerHealth]: { request: EmptyRequest, response: Type.Object({ ok: Type.Boolean() }) },
} satisfies Record<(typeof requests)[keyof typeof requests], { request: TSchema; response: TSchema }>;

const UserEvent = Type.Object({ v: Type.Literal(1), project_id: Uuid, user_id: Uuid });

/** Payload schema of every event subject. Every event carries a version `v`. */
export const eventSchemas = {
  [events.userCreated]: Type.Composite([
    UserEvent,
    Type.Object({ email: Type.Union([Type.String(), Type.Null()]), role: Role }),
  ]),
  [events.userUpdated]: UserEvent,
  [events.userPasswordChanged]: UserEvent,
  [events.userDeleted]: UserEvent,
  [events.sessionRevoked]: Type.Object({
    v: Type.Literal(1),
    user_id: Uuid,
    session_ids: Type.Array(Uuid),
    until: Type.Integer(),
    reason: Type.String(),
  }),
  [events.keysRotated]: Type.Object({ v: Type.Literal(1), kid: Type.String() }),
  [events.mfaChanged]: Type.Composite([
    UserEvent,
    Type.Object({
      factor: Type.Union([Type.Literal('totp'), Type.Literal('passkey'), Type.Literal('recovery_codes')]),
      change: Type.Union([Type.Literal('enabled'), Type.Literal('disabled'), Type.Literal('regenerated')]),
    }),
  ]),
} satisfies Record<(typeof events)[keyof typeof events], TSchema>;

export type RequestSchemas = typeof requestSchemas;
export type EventSchemas = typeof eventSchemas;
export type RequestOf<S extends keyof RequestSchemas> = Static<RequestSchemas[S]['request']>;
export type ResponseOf<S extends keyof RequestSchemas> = Static<RequestSchemas[S]['response']>;
export type EventOf<S extends keyof EventSchemas> = Static<EventSchemas[S]>;

/** The reply envelope on every request subject. */
export const ReplyError = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Array(Type.Unknown())),
  /** Seconds, for `rate_limited` and `service_unavailable`: the HTTP edge's Retry-After. */
  retry_after: Type.Optional(Type.Integer({ minimum: 0 })),
});
