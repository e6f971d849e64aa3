import { Type } from '@sinclair/typebox';
import { OneTimeToken, Password } from '../fields.ts';
import { AvatarUrl, Metadata, UserRecord, Uuid } from '../objects.ts';
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
};
