import { Type } from '@sinclair/typebox';
import { AuditEventType, AuditEventView } from '../audit.ts';
import {
  LinkedIdentity,
  OAUTH_REDIRECT_ERRORS,
  OneTimeToken,
  Password,
  ProviderId,
  SocialProvider,
} from '../fields.ts';
import { AuthMode } from '../http.ts';
import {
  ApiKey,
  AssignableRole,
  AvatarUrl,
  Invitation,
  Metadata,
  Project,
  ProjectDirectoryEntry,
  ProjectSettings,
  Role,
  Timestamp,
  UserRecord,
  Uuid,
} from '../objects.ts';
import { requests } from '../subjects.ts';
import { Client, Email, Empty, EmptyRequest, RedirectTo, Request } from './shapes.ts';

/** The identity service's subjects: users, passwords, guests, one-time links and notices. */
export const identityRequests = {
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
  [requests.identityOAuthProviders]: {
    request: Request({ project_id: Uuid }),
    response: Type.Object({ providers: Type.Array(SocialProvider) }),
  },
  [requests.identityOAuthStart]: {
    /**
     * Begins a social sign-in: the provider's authorization URL, with a new
     * state (10 minutes, single use), PKCE S256 and, for OpenID Connect, a
     * nonce. `binding`: the browser's secret from its HttpOnly cookie; only the
     * browser that holds it can finish the flow. `link_token` (from
     * identity.oauth.link) makes the flow link the provider to its user instead.
     * Throws `unknown_provider`, `invalid_one_time_token` (a used or expired
     * link token), `service_unavailable` (the provider's discovery failed).
     */
    request: Request({
      project_id: Uuid,
      provider: ProviderId,
      redirect_to: Type.String({ maxLength: 2048 }),
      auth_mode: AuthMode,
      binding: Type.String({ minLength: 32, maxLength: 128 }),
      link_token: Type.Optional(OneTimeToken),
    }),
    response: Type.Object({ url: Type.String() }),
  },
  [requests.identityOAuthCallback]: {
    /**
     * Finishes a flow with the provider's answer (`params`: the callback's
     * query). Throws `invalid_state` only when there is nothing safe to
     * redirect to (an unknown, used or expired state, one of another provider,
     * or another browser's); every other outcome names `redirect_to`: the user
     * signed in (cookie mode, no second factor: the gateway opens the session),
     * a one-time exchange code for POST /auth/oauth/exchange (60 s), the
     * provider linked, or a failure code. `session_ids`: sessions ended because
     * a verified provider address claimed an account whose address was never
     * proven. `project_id`: absent when the caller cannot know it (a provider's
     * redirect carries no project key): the flow's own project is used.
     */
    request: Request({
      project_id: Type.Optional(Uuid),
      provider: ProviderId,
      binding: Type.String({ maxLength: 128 }),
      params: Type.Record(Type.String(), Type.String({ maxLength: 4096 })),
      // For the notice mailed when a provider account is added to an account.
      ...Client,
    }),
    response: Type.Object({
      redirect_to: Type.String(),
      auth_mode: AuthMode,
      session_ids: Type.Array(Uuid),
      outcome: Type.Union([
        Type.Object({ status: Type.Literal('signed_in'), user: UserRecord }),
        Type.Object({ status: Type.Literal('code'), code: Type.String() }),
        // Whom the provider was linked to (for the audit log).
        Type.Object({ status: Type.Literal('linked'), provider: ProviderId, project_id: Uuid, user_id: Uuid }),
        Type.Object({
          status: Type.Literal('failed'),
          error: Type.Union(OAUTH_REDIRECT_ERRORS.map((e) => Type.Literal(e))),
        }),
      ]),
    }),
  },
  [requests.identityOAuthExchange]: {
    /** Trades a one-time exchange code for its user. Throws `invalid_one_time_token`, `user_banned`. */
    request: Request({ project_id: Uuid, code: OneTimeToken }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityOAuthLink]: {
    /**
     * A link token (10 minutes, single use) for the signed-in user: GET
     * /auth/oauth/{provider}?link_token= begins the flow that links `provider`
     * to them. Throws `unknown_provider`.
     */
    request: Request({
      project_id: Uuid,
      user_id: Uuid,
      provider: ProviderId,
      redirect_to: Type.String({ maxLength: 2048 }),
    }),
    response: Type.Object({ link_token: Type.String() }),
  },
  [requests.identityIdentitiesList]: {
    request: Request({ project_id: Uuid, user_id: Uuid }),
    response: Type.Object({ identities: Type.Array(LinkedIdentity) }),
  },
  [requests.identityIdentityUnlink]: {
    /**
     * Removes one of the user's identities. Throws `not_found` (also another
     * user's) and `last_login_method` when it is the last way to sign in (no
     * password, no other identity and, `has_passkey` says, no passkey).
     */
    request: Request({ project_id: Uuid, user_id: Uuid, identity_id: Uuid, has_passkey: Type.Boolean() }),
    response: Empty,
  },
  // Administration: the gateway has checked that the caller administers `project_id`.
  [requests.identityAdminUserList]: {
    /** Newest first. `cursor` is the previous page's `next_cursor`; a malformed one is `validation_failed`. */
    request: Request({
      project_id: Uuid,
      search: Type.Optional(Type.String({ maxLength: 200 })),
      limit: Type.Integer({ minimum: 1, maximum: 100 }),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    }),
    response: Type.Object({ users: Type.Array(UserRecord), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
  },
  [requests.identityAdminUserUpdate]: {
    /**
     * Throws `not_found`, `validation_failed` (a role for a guest, a verified
     * flag without an email), `last_admin` (the change would leave the project
     * with no admin who can sign in).
     */
    request: Request({
      project_id: Uuid,
      user_id: Uuid,
      role: Type.Optional(AssignableRole),
      banned: Type.Optional(Type.Boolean()),
      name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
      email_verified: Type.Optional(Type.Boolean()),
      metadata: Type.Optional(Metadata),
    }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityAdminUserDelete]: {
    /** Without the owner's password. Throws `not_found`, `last_admin`. */
    request: Request({ project_id: Uuid, user_id: Uuid }),
    response: Empty,
  },
  [requests.identityInvitationCreate]: {
    /** Mails the link (7 days, single use). Throws `email_taken` when the project has that address. */
    request: Request({
      project_id: Uuid,
      email: Email,
      role: AssignableRole,
      invited_by: Uuid,
      redirect_to: RedirectTo,
    }),
    response: Type.Object({ invitation: Invitation }),
  },
  [requests.identityInvitationList]: {
    /** The open ones (not accepted, revoked or expired), newest first. */
    request: Request({ project_id: Uuid }),
    response: Type.Object({ invitations: Type.Array(Invitation) }),
  },
  [requests.identityInvitationRevoke]: {
    /** Throws `not_found` (also one already accepted or expired). */
    request: Request({ project_id: Uuid, invitation_id: Uuid }),
    response: Empty,
  },
  [requests.identityInvitationAccept]: {
    /**
     * Creates the invited user with the invited role, the address verified
     * (the link proves it) and this password; the token is spent. Throws
     * `invalid_one_time_token`, `email_taken` (the address signed up meanwhile).
     */
    request: Request({
      project_id: Uuid,
      token: OneTimeToken,
      password: Password,
      name: Type.Optional(Type.String({ maxLength: 200 })),
    }),
    response: Type.Object({ user: UserRecord }),
  },
  // User API keys. The gateway hashes a key (kit `apiKeyHash`) before it asks about it.
  [requests.identityApiKeyCreate]: {
    /** `key` is in this answer only. Throws `forbidden` for a guest, `not_found`. */
    request: Request({
      project_id: Uuid,
      user_id: Uuid,
      name: Type.String({ minLength: 1, maxLength: 100 }),
      expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    }),
    response: Type.Object({ api_key: ApiKey, key: Type.String() }),
  },
  [requests.identityApiKeyList]: {
    /** The user's keys that are not revoked, expired ones included (so they can be seen and removed). */
    request: Request({ project_id: Uuid, user_id: Uuid }),
    response: Type.Object({ api_keys: Type.Array(ApiKey) }),
  },
  [requests.identityApiKeyRevoke]: {
    /** Throws `not_found` (also another user's key). Publishes `events.api_keys.revoked`. */
    request: Request({ project_id: Uuid, user_id: Uuid, key_id: Uuid }),
    response: Empty,
  },
  [requests.identityApiKeyVerify]: {
    /**
     * Who the key with this hash acts as, when it works now (not revoked, not
     * expired, its user not banned), with the user's current role. Throws
     * `unauthorized` otherwise, the same for every reason.
     */
    request: Request({ key_hash: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
    response: Type.Object({
      key_id: Uuid,
      project_id: Uuid,
      user_id: Uuid,
      role: Role,
      expires_at: Type.Union([Type.String(), Type.Null()]),
    }),
  },
  [requests.identityApiKeyTouch]: {
    /** When keys were last used, gathered by a gateway and sent in one batch. */
    request: Request({
      uses: Type.Array(Type.Object({ key_id: Uuid, at: Type.String({ format: 'date-time' }) }), { maxItems: 10_000 }),
    }),
    response: Empty,
  },
  [requests.identityAuditList]: {
    /**
     * The project's audit events, newest first, optionally of one user and one
     * type, at or after `since` and before `until`. `cursor` is the previous
     * page's `next_cursor`; a malformed one is `validation_failed`.
     */
    request: Request({
      project_id: Uuid,
      user_id: Type.Optional(Uuid),
      type: Type.Optional(AuditEventType),
      since: Type.Optional(Timestamp),
      until: Type.Optional(Timestamp),
      limit: Type.Integer({ minimum: 1, maximum: 100 }),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    }),
    response: Type.Object({
      events: Type.Array(AuditEventView),
      next_cursor: Type.Union([Type.String(), Type.Null()]),
    }),
  },
  // Projects (tenants): the gateway checked that the caller is the instance admin.
  [requests.identityProjectCreate]: {
    /** `secret_key` is in this answer only (stored as a hash). Throws `validation_failed` (a lifetime above the instance's). */
    request: Request({ name: Type.String({ minLength: 1, maxLength: 200 }), settings: Type.Optional(ProjectSettings) }),
    response: Type.Object({ project: Project, secret_key: Type.String() }),
  },
  [requests.identityProjectList]: {
    request: EmptyRequest,
    response: Type.Object({ projects: Type.Array(Project) }),
  },
  [requests.identityProjectUpdate]: {
    /** `settings` replaces the keys it names; a key set to null goes back to the instance's setting. Throws `not_found`, `validation_failed`. */
    request: Request({
      project_id: Uuid,
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
    response: Type.Object({ project: Project }),
  },
  [requests.identityProjectRotateKeys]: {
    /** New publishable and secret keys; the old ones stop working at once (`events.project.changed`). Throws `not_found`. */
    request: Request({ project_id: Uuid }),
    response: Type.Object({ publishable_key: Type.String(), secret_key: Type.String() }),
  },
  [requests.identityProjectDirectory]: {
    /**
     * What a gateway keeps in memory to name a request's project without a
     * database call: every project (or the one asked for) with its
     * publishable key, the hash of its secret key (kit `apiKeyHash`) and its settings.
     */
    request: Request({ project_id: Type.Optional(Uuid) }),
    response: Type.Object({ projects: Type.Array(ProjectDirectoryEntry) }),
  },
};
