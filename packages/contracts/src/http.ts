import { type Static, type TProperties, Type } from '@sinclair/typebox';
import { AuditEventType, AuditEventView } from './audit.ts';
import { WireErrorCodeField } from './errors.ts';
import {
  LinkedIdentity,
  OneTimeToken,
  Passkey,
  Password,
  ProviderId,
  SecondFactorCode,
  SocialProvider,
  WebAuthnJson,
} from './fields.ts';
import {
  AdminUser,
  Amr,
  ApiKey,
  AssignableRole,
  AvatarUrl,
  Invitation,
  Metadata,
  Project,
  ProjectSettings,
  ProjectSignInMethod,
  Role,
  SessionInfo,
  Timestamp,
  User,
  Uuid,
} from './objects.ts';

/** Checked for shape here; trimmed and lower-cased by identity. */
export const HttpEmail = Type.String({
  minLength: 3,
  maxLength: 254,
  pattern: '^\\s*[^\\s@]+@[^\\s@]+\\s*$',
  description: 'an email address',
});
/** How a sign-in is answered: tokens in the body (`token`, the default) or HttpOnly cookies (`cookie`). */
export const AuthMode = Type.Optional(Type.Union([Type.Literal('token'), Type.Literal('cookie')]));
export type AuthMode = Static<typeof AuthMode>;

/**
 * Every request body refuses fields it does not name (400 validation_failed):
 * what a caller sends is never forwarded beyond what the route reads.
 */
const strict = { additionalProperties: false } as const;
const Body = <T extends TProperties>(properties: T) => Type.Object(properties, strict);

/** The body of a route that reads none: nothing, or `{}`. */
export const EmptyBody = Body({});

export const ErrorBody = Type.Object(
  {
    error: WireErrorCodeField,
    message: Type.String(),
    details: Type.Optional(Type.Array(Type.Unknown())),
  },
  { $id: 'ErrorBody' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** Every successful sign-in. In cookie mode the two tokens travel as cookies and are left out. */
export const TokenResponse = Type.Object({
  access_token: Type.Optional(Type.String()),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.Optional(Type.String()),
  user: User,
});
export type TokenResponse = Static<typeof TokenResponse>;

/** An absolute URL that must match REDIRECT_ALLOWLIST (else `invalid_redirect`). */
export const RedirectTo = Type.Optional(Type.String({ minLength: 1, maxLength: 2048 }));

export const RegisterBody = Body({
  email: HttpEmail,
  password: Password,
  name: Type.Optional(Type.String({ maxLength: 200 })),
  metadata: Type.Optional(Metadata),
  auth_mode: AuthMode,
  /** Where the verification email's link leads (an extension of the contract). */
  redirect_to: RedirectTo,
});
export const LoginBody = Body({
  email: Type.String({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
  auth_mode: AuthMode,
});
/** The refresh token comes in the body, or (cookie mode) in the refresh cookie. */
export const RefreshBody = Body({
  refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  auth_mode: AuthMode,
});
export const GuestBody = Body({ name: Type.Optional(Type.String({ maxLength: 200 })), auth_mode: AuthMode });
export const GuestConvertBody = Body({
  email: HttpEmail,
  password: Password,
  name: Type.Optional(Type.String({ maxLength: 200 })),
  auth_mode: AuthMode,
});
export const PatchMeBody = Body({
  name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  avatar_url: Type.Optional(Type.Union([AvatarUrl, Type.Null()])),
  metadata: Type.Optional(Metadata),
});
export const DeleteMeBody = Body({ password: Type.Optional(Type.String({ maxLength: 1024 })) });
export const PasswordChangeBody = Body({
  current_password: Type.String({ minLength: 1, maxLength: 1024 }),
  new_password: Password,
});

export const SessionResponse = Type.Object({
  session: Type.Object({
    id: Uuid,
    user_id: Uuid,
    role: Role,
    amr: Amr,
    expires_at: Timestamp,
  }),
});
export const SessionsResponse = Type.Object({
  sessions: Type.Array(Type.Composite([SessionInfo, Type.Object({ current: Type.Boolean() })])),
});
export const SessionsRevoked = Type.Object({ sessions_revoked: Type.Integer() });
export const IdParams = Type.Object({ id: Uuid });

export const EmailVerifyBody = Body({ token: OneTimeToken });
export const EmailResendBody = Body({ redirect_to: RedirectTo });
export const PasswordForgotBody = Body({ email: HttpEmail, redirect_to: RedirectTo });
export const PasswordResetBody = Body({ token: OneTimeToken, password: Password });
export const MagicLinkBody = Body({ email: HttpEmail, redirect_to: RedirectTo });
export const MagicLinkVerifyBody = Body({ token: OneTimeToken, auth_mode: AuthMode });
/** The answer to a request that may send an email: the same for every address. */
export const Accepted = Type.Object({});

/** A sign-in that needs a second factor: complete it with POST /auth/login/mfa. */
export const MfaChallenge = Type.Object({
  mfa_required: Type.Literal(true),
  mfa_token: Type.String(),
  methods: Type.Array(Type.String()),
});
export type MfaChallenge = Static<typeof MfaChallenge>;
/** What a first factor answers: tokens, or the challenge when the user has a second factor. */
export const SignInResponse = Type.Union([TokenResponse, MfaChallenge]);
/** The answer of a route that answers with no body (204): nothing is sent, so its type is `undefined`. */
export const NoContent = Type.Unsafe<undefined>({ type: 'null', description: 'no content' });

export const LoginMfaBody = Body({
  mfa_token: Type.String({ minLength: 1, maxLength: 256 }),
  code: Type.Optional(SecondFactorCode),
  recovery_code: Type.Optional(SecondFactorCode),
  webauthn: Type.Optional(WebAuthnJson),
  auth_mode: AuthMode,
});
export const MfaStatusResponse = Type.Object({
  totp: Type.Boolean(),
  passkeys: Type.Integer(),
  recovery_codes_left: Type.Integer(),
});
export const TotpSetupResponse = Type.Object({ secret: Type.String(), otpauth_url: Type.String() });
/** A TOTP code, or (disable and regenerate) a recovery code. */
export const MfaCodeBody = Body({ code: SecondFactorCode });
/**
 * Adding or removing a sign-in method needs a recent sign-in (RECENT_SIGN_IN_SECONDS, 5 minutes) or,
 * after that, proof sent along: the current `password`, or a TOTP or recovery
 * `code` of a user with TOTP. Otherwise 403 `reauthentication_required`.
 */
const StepUp = {
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  code: Type.Optional(SecondFactorCode),
};
export const StepUpBody = Body(StepUp);
/** `code`: the first code of the new secret. A step-up can only be the password here. */
export const TotpEnableBody = Body({ code: SecondFactorCode, password: StepUp.password });
export const RecoveryCodesResponse = Type.Object({ recovery_codes: Type.Array(Type.String()) });
export const PasskeyRegisterVerifyBody = Body({
  response: WebAuthnJson,
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
});
export const PasskeyCreated = Type.Object({ id: Uuid, name: Type.String(), created_at: Timestamp });
export const PasskeyLoginOptionsBody = Body({
  email: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
  mfa_token: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
});
export const PasskeyLoginVerifyBody = Body({
  challenge_id: Uuid,
  response: WebAuthnJson,
  auth_mode: AuthMode,
});
export const PasskeysResponse = Type.Object({
  passkeys: Type.Array(Passkey),
});
/** WebAuthn options as JSON, passed to navigator.credentials.create/get (via @simplewebauthn/browser). */
export const WebAuthnOptions = Type.Record(Type.String(), Type.Unknown());

// Social sign-in.
export const ProvidersResponse = Type.Object({ providers: Type.Array(SocialProvider) });
export const ProviderParams = Type.Object({ provider: ProviderId });
export const OAuthStartQuery = Type.Object(
  {
    redirect_to: RedirectTo,
    auth_mode: AuthMode,
    /** From POST /auth/identities/{provider}/link: the flow links the provider to that user. */
    link_token: Type.Optional(OneTimeToken),
    /**
     * The project's publishable key (`pk_...`): a browser's navigation to this
     * URL cannot send X-API-Key. Absent: the default project, or the one X-API-Key names.
     */
    project: Type.Optional(Type.String({ pattern: '^pk_[A-Za-z0-9_-]{1,100}$' })),
  },
  strict,
);
/**
 * What a provider sends back: `code` and `state`, or `error` (and
 * `error_description`); providers add their own parameters (`scope`,
 * `authuser`, `iss`), so others are kept, not refused.
 */
export const OAuthCallbackQuery = Type.Object(
  {
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    state: Type.Optional(Type.String({ maxLength: 512 })),
    error: Type.Optional(Type.String({ maxLength: 256 })),
    error_description: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  { additionalProperties: Type.String({ maxLength: 4096 }) },
);
export const OAuthExchangeBody = Body({ code: OneTimeToken, auth_mode: AuthMode });
export const IdentitiesResponse = Type.Object({ identities: Type.Array(LinkedIdentity) });
/** With a step-up (the password or a code) when the sign-in is not recent: linking adds a way in. */
export const LinkIdentityBody = Body({ redirect_to: RedirectTo, ...StepUp });
export const LinkIdentityResponse = Type.Object({ url: Type.String() });

// Administration (role `admin`).
/** An opaque position in a list, from the previous page's `next_cursor`. */
export const Cursor = Type.String({ minLength: 1, maxLength: 200 });
export const AdminUsersQuery = Type.Object(
  {
    /** Matches a part of the email or the name, in any case. */
    search: Type.Optional(Type.String({ maxLength: 200 })),
    /** 1 to 100, 50 when absent (a query string is text: the pattern is the range). */
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: 'an integer from 1 to 100' })),
    cursor: Type.Optional(Cursor),
  },
  strict,
);
/** Newest first; `next_cursor` is null on the last page. */
export const AdminUsersResponse = Type.Object({
  users: Type.Array(AdminUser),
  next_cursor: Type.Union([Cursor, Type.Null()]),
});
/** A role or a ban ends every session of the user at once (tokens carry the role). */
export const AdminUserPatchBody = Body({
  role: Type.Optional(AssignableRole),
  banned: Type.Optional(Type.Boolean()),
  name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  email_verified: Type.Optional(Type.Boolean()),
  metadata: Type.Optional(Metadata),
});
export const AdminSessionsResponse = Type.Object({ sessions: Type.Array(SessionInfo) });
export const InvitationBody = Body({
  email: HttpEmail,
  role: Type.Optional(AssignableRole),
  /** Where the invitation's link leads (allow-listed); else PUBLIC_URL/auth/confirm. */
  redirect_to: RedirectTo,
});
export const InvitationsResponse = Type.Object({ invitations: Type.Array(Invitation) });
export const InvitationAcceptBody = Body({
  token: OneTimeToken,
  password: Password,
  name: Type.Optional(Type.String({ maxLength: 200 })),
  auth_mode: AuthMode,
});
/** The audit log's filters: one user, one type, a time range (`since` included, `until` not). */
export const AuditQuery = Type.Object(
  {
    user_id: Type.Optional(Uuid),
    type: Type.Optional(AuditEventType),
    since: Type.Optional(Timestamp),
    until: Type.Optional(Timestamp),
    /** 1 to 100, 50 when absent. */
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: 'an integer from 1 to 100' })),
    cursor: Type.Optional(Cursor),
  },
  strict,
);
/** Newest first; `next_cursor` is null on the last page. */
export const AuditResponse = Type.Object({
  events: Type.Array(AuditEventView),
  next_cursor: Type.Union([Cursor, Type.Null()]),
});

// User API keys.
export const ApiKeyCreateBody = Body({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  /** Days until the key stops working; without it, it works until revoked. */
  expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
});
/** `key` is shown this once: only its hash is stored. */
export const ApiKeyCreated = Type.Object({
  id: Uuid,
  name: Type.String(),
  prefix: Type.String(),
  key: Type.String(),
  created_at: Timestamp,
  expires_at: Type.Union([Timestamp, Type.Null()]),
});
export const ApiKeysResponse = Type.Object({ api_keys: Type.Array(ApiKey) });

// Projects (the instance admin).
export const ProjectCreateBody = Body({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  settings: Type.Optional(ProjectSettings),
});
/** `secret_key` is shown this once. */
export const ProjectCreated = Type.Composite([Project, Type.Object({ secret_key: Type.String() })]);
export const ProjectsResponse = Type.Object({ projects: Type.Array(Project) });
/** `settings` replaces the keys it names; null puts one back to the instance's setting. */
export const ProjectPatchBody = Body({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  settings: Type.Optional(
    Type.Object(
      {
        access_token_ttl: Type.Optional(Type.Union([Type.Integer({ minimum: 60 }), Type.Null()])),
        refresh_token_ttl: Type.Optional(Type.Union([Type.Integer({ minimum: 300 }), Type.Null()])),
        require_email_verification: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
        redirect_allowlist: Type.Optional(
          Type.Union([Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { maxItems: 100 }), Type.Null()]),
        ),
        sign_in_methods: Type.Optional(
          Type.Union([Type.Array(ProjectSignInMethod, { maxItems: 5, uniqueItems: true }), Type.Null()]),
        ),
      },
      strict,
    ),
  ),
});
export const ProjectKeys = Type.Object({ publishable_key: Type.String(), secret_key: Type.String() });
