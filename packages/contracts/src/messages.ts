import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Amr, Jwk, Metadata, Role, SessionInfo, UserRecord, Uuid } from './objects.ts';
import { events, requests } from './subjects.ts';

const Email = Type.String({ minLength: 3, maxLength: 254 });
const Password = Type.String({ minLength: 8, maxLength: 128 });
const Empty = Type.Object({});
/** A one-time token as it arrives from a link: 43 base64url characters when well formed. */
const OneTimeToken = Type.String({ minLength: 1, maxLength: 256 });
/** An absolute URL the gateway has already checked against REDIRECT_ALLOWLIST. */
const RedirectTo = Type.Optional(Type.String({ maxLength: 2048 }));
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
    request: Type.Object({
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
    request: Type.Object({ project_id: Uuid, email: Type.String(), password: Type.String() }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityGetUser]: {
    request: Type.Object({ project_id: Uuid, user_id: Uuid }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityUpdateUser]: {
    request: Type.Object({
      project_id: Uuid,
      user_id: Uuid,
      name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
      avatar_url: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
      metadata: Type.Optional(Metadata),
    }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityDeleteUser]: {
    request: Type.Object({
      project_id: Uuid,
      user_id: Uuid,
      password: Type.Optional(Type.String()),
      /** The caller signed in within the last 5 minutes: enough for a user with no password. */
      fresh_sign_in: Type.Boolean(),
    }),
    response: Empty,
  },
  [requests.identityChangePassword]: {
    request: Type.Object({
      project_id: Uuid,
      user_id: Uuid,
      current_password: Type.String(),
      new_password: Password,
      ...Client,
    }),
    response: Empty,
  },
  [requests.identityVerifyEmail]: {
    request: Type.Object({ project_id: Uuid, token: OneTimeToken }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityResendVerification]: {
    request: Type.Object({ project_id: Uuid, user_id: Uuid, redirect_to: RedirectTo }),
    response: Empty,
  },
  [requests.identityForgotPassword]: {
    request: Type.Object({ project_id: Uuid, email: Email, redirect_to: RedirectTo }),
    response: Empty,
  },
  [requests.identityResetPassword]: {
    request: Type.Object({ project_id: Uuid, token: OneTimeToken, password: Password, ...Client }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identitySendMagicLink]: {
    request: Type.Object({ project_id: Uuid, email: Email, redirect_to: RedirectTo }),
    response: Empty,
  },
  [requests.identityVerifyMagicLink]: {
    request: Type.Object({ project_id: Uuid, token: OneTimeToken }),
    /** `created`: the link signed up a new user. */
    response: Type.Object({ user: UserRecord, created: Type.Boolean() }),
  },
  [requests.identityCreateGuest]: {
    request: Type.Object({ project_id: Uuid, name: Type.Optional(Type.String({ maxLength: 200 })) }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityConvertGuest]: {
    request: Type.Object({
      project_id: Uuid,
      user_id: Uuid,
      email: Email,
      password: Password,
      name: Type.Optional(Type.String({ maxLength: 200 })),
    }),
    response: Type.Object({ user: UserRecord }),
  },
  [requests.identityHealth]: { request: Empty, response: Type.Object({ ok: Type.Boolean() }) },
  [requests.sessionCreate]: {
    request: Type.Object({
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
    request: Type.Object({
      refresh_token: Type.String({ maxLength: 512 }),
      ip: Type.Optional(Type.String({ maxLength: 64 })),
      user_agent: Type.Optional(Type.String({ maxLength: 512 })),
    }),
    response: Type.Composite([Tokens, Type.Object({ user_id: Uuid, project_id: Uuid })]),
  },
  [requests.sessionRevoke]: {
    /** With `user_id`, a session of another user is `not_found`. */
    request: Type.Object({ session_id: Uuid, user_id: Type.Optional(Uuid), reason: Type.String() }),
    response: Empty,
  },
  [requests.sessionRevokeUser]: {
    request: Type.Object({ user_id: Uuid, except_session_id: Type.Optional(Uuid), reason: Type.String() }),
    response: Type.Object({ session_ids: Type.Array(Uuid) }),
  },
  [requests.sessionList]: {
    request: Type.Object({ user_id: Uuid }),
    response: Type.Object({ sessions: Type.Array(SessionInfo) }),
  },
  [requests.sessionRevocations]: {
    request: Empty,
    /** `until`: epoch milliseconds after which no access token can still carry the id. */
    response: Type.Object({ revoked: Type.Array(Type.Object({ session_id: Uuid, until: Type.Integer() })) }),
  },
  [requests.sessionJwks]: { request: Empty, response: Type.Object({ keys: Type.Array(Jwk) }) },
  [requests.sessionHealth]: { request: Empty, response: Type.Object({ ok: Type.Boolean() }) },
  [requests.mfaHealth]: { request: Empty, response: Type.Object({ ok: Type.Boolean() }) },
  [requests.mailerHealth]: { request: Empty, response: Type.Object({ ok: Type.Boolean() }) },
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
});
