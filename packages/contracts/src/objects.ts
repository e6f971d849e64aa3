import { type Static, Type } from '@sinclair/typebox';

/** ISO 8601 UTC timestamp string. */
export const Timestamp = Type.String({ format: 'date-time' });
export const Uuid = Type.String({ format: 'uuid' });

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('user'), Type.Literal('guest')]);
export type Role = Static<typeof Role>;

/** Authentication methods references (RFC 8176 style) carried in `amr`. */
export const Amr = Type.Array(Type.String({ maxLength: 32 }), { maxItems: 8 });

export const Metadata = Type.Record(Type.String(), Type.Unknown());

/**
 * A picture's address: `https:` only (`http:` on loopback, for development), so
 * a page that shows it never runs `javascript:` or loads `data:` from a user.
 */
export const AvatarUrl = Type.String({
  maxLength: 2048,
  format: 'uri',
  pattern: '^(https://[^/?#\\\\\\s]|http://(localhost|127\\.0\\.0\\.1|\\[::1\\])([:/?#]|$))',
  description: 'an https: URL (http: on localhost only)',
});

/** The public User object of the HTTP contract. */
export const User = Type.Object({
  id: Uuid,
  email: Type.Union([Type.String(), Type.Null()]),
  email_verified: Type.Boolean(),
  name: Type.Union([Type.String(), Type.Null()]),
  avatar_url: Type.Union([Type.String(), Type.Null()]),
  role: Role,
  metadata: Metadata,
  mfa_enabled: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type User = Static<typeof User>;

/** A user as identity hands it to other services: the public object plus what they need to decide. */
export const UserRecord = Type.Composite([
  User,
  Type.Object({
    project_id: Uuid,
    banned: Type.Boolean(),
    has_password: Type.Boolean(),
  }),
]);
export type UserRecord = Static<typeof UserRecord>;

/** A role an admin can give: `guest` is what an account without credentials is, never assigned. */
export const AssignableRole = Type.Union([Type.Literal('admin'), Type.Literal('user')]);
export type AssignableRole = Static<typeof AssignableRole>;

/** A user as an admin sees it: the User, and whether it is banned. */
export const AdminUser = Type.Composite([User, Type.Object({ banned: Type.Boolean() })]);
export type AdminUser = Static<typeof AdminUser>;

/** An invitation as an admin sees it (its token was mailed, and is nowhere stored in clear). */
export const Invitation = Type.Object({
  id: Uuid,
  email: Type.String(),
  role: AssignableRole,
  created_at: Timestamp,
  expires_at: Timestamp,
});
export type Invitation = Static<typeof Invitation>;

/** A user API key as its owner sees it: never the key itself, which is shown once, at creation. */
export const ApiKey = Type.Object({
  id: Uuid,
  name: Type.String(),
  /** The key's first characters (`uk_` and 8 more), to tell keys apart. */
  prefix: Type.String(),
  created_at: Timestamp,
  /** Updated in batches: up to a minute behind. */
  last_used_at: Type.Union([Timestamp, Type.Null()]),
  expires_at: Type.Union([Timestamp, Type.Null()]),
});
export type ApiKey = Static<typeof ApiKey>;

/** The ways in a project may turn off (`sign_in_methods`): an invitation is a password sign-up. */
export const ProjectSignInMethod = Type.Union([
  Type.Literal('password'),
  Type.Literal('magic_link'),
  Type.Literal('oauth'),
  Type.Literal('passkey'),
  Type.Literal('guest'),
]);
export type ProjectSignInMethod = Static<typeof ProjectSignInMethod>;
export const PROJECT_SIGN_IN_METHODS: readonly ProjectSignInMethod[] = ProjectSignInMethod.anyOf.map((s) => s.const);

/**
 * A project's own rules, each in place of the instance's setting when set. The
 * lifetimes may be shorter than the instance's (ACCESS_TOKEN_TTL,
 * REFRESH_TOKEN_TTL), never longer: revocation is sized by the instance's.
 */
export const ProjectSettings = Type.Object(
  {
    access_token_ttl: Type.Optional(Type.Integer({ minimum: 60 })),
    refresh_token_ttl: Type.Optional(Type.Integer({ minimum: 300 })),
    require_email_verification: Type.Optional(Type.Boolean()),
    redirect_allowlist: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { maxItems: 100 })),
    sign_in_methods: Type.Optional(Type.Array(ProjectSignInMethod, { maxItems: 5, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type ProjectSettings = Static<typeof ProjectSettings>;

/** A project (tenant). The publishable key names it and is safe in a browser; the secret key is shown once. */
export const Project = Type.Object({
  id: Uuid,
  name: Type.String(),
  publishable_key: Type.String(),
  settings: ProjectSettings,
  created_at: Timestamp,
});
export type Project = Static<typeof Project>;

/**
 * A project as a gateway keeps it in memory, to name a request's project without a database
 * call: its publishable key, the hash of its secret key (kit `apiKeyHash`) and its settings.
 */
export const ProjectDirectoryEntry = Type.Object({
  id: Uuid,
  publishable_key: Type.String(),
  secret_key_hash: Type.Union([Type.String(), Type.Null()]),
  settings: ProjectSettings,
});
export type ProjectDirectoryEntry = Static<typeof ProjectDirectoryEntry>;

/** A session as listed to its owner. */
export const SessionInfo = Type.Object({
  id: Uuid,
  user_id: Uuid,
  created_at: Timestamp,
  last_used_at: Timestamp,
  expires_at: Timestamp,
  ip: Type.Union([Type.String(), Type.Null()]),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  amr: Amr,
});
export type SessionInfo = Static<typeof SessionInfo>;

/** The claims of an access token (a JWT signed by the session service). */
export const AccessClaims = Type.Object({
  iss: Type.String(),
  aud: Type.String(),
  sub: Uuid,
  sid: Uuid,
  role: Role,
  amr: Amr,
  auth_time: Type.Integer(),
  iat: Type.Integer(),
  exp: Type.Integer(),
});
export type AccessClaims = Static<typeof AccessClaims>;

export const Jwk = Type.Object(
  {
    kty: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.Literal('sig'),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type Jwk = Static<typeof Jwk>;

/** The id of the project every deployment starts with. */
export const DEFAULT_PROJECT_ID = '00000000-0000-7000-8000-000000000001';
