import { type Static, Type } from '@sinclair/typebox';
import { ERROR_CODES } from './errors.ts';
import { ProviderId } from './fields.ts';
import { AssignableRole, Timestamp, Uuid } from './objects.ts';

/**
 * The audit log: what happened to an account, who did it, from where and
 * when. Producers (the gateway, the session service) publish events to a
 * durable queue (JetStream stream `AUDIT` in the stack, an in-process queue
 * embedded) without waiting for it; identity writes them to Postgres in
 * batches and serves `identity.audit.list`.
 */
export const auditQueue = {
  /** The JetStream stream that holds the events not yet written (a work queue: written ones leave it). */
  stream: 'AUDIT',
  /** Events are published on `audit.events.<type>`; the stream takes `audit.events.>`. */
  subjectPrefix: 'audit.events',
  /** Identity's durable consumer, shared by its replicas. */
  consumer: 'identity',
} as const;

export const AUDIT_EVENT_TYPES = [
  'sign_in.succeeded',
  'sign_in.failed',
  'sign_out',
  'refresh_token.reused',
  'password.changed',
  'password.reset',
  'mfa.totp_enabled',
  'mfa.totp_disabled',
  'mfa.recovery_regenerated',
  'passkey.added',
  'passkey.removed',
  'api_key.created',
  'api_key.revoked',
  'identity.linked',
  'identity.unlinked',
  'account.deleted',
  'invitation.accepted',
  'admin.user_updated',
  'admin.user_deleted',
  'admin.sessions_revoked',
  'admin.invitation_created',
  'admin.invitation_revoked',
] as const;
export const AuditEventType = Type.Union(AUDIT_EVENT_TYPES.map((t) => Type.Literal(t)));
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

const literals = <const T extends readonly string[]>(values: T) => Type.Union(values.map((v) => Type.Literal(v)));

/** How a sign-in was proven; `mfa` when a second factor completed it (`factor` says which). */
export const SignInMethod = literals(['password', 'magic_link', 'oauth', 'passkey', 'guest', 'mfa'] as const);
export type SignInMethod = Static<typeof SignInMethod>;

/**
 * What an event may say besides who, where and when. Every field is an id, a
 * code or a flag, never text a caller typed: an event cannot hold a password,
 * a token, a key, a code or a secret, nor an email address. AUDIT_DATA_FIELDS
 * says which fields each type carries; a producer's extra fields are dropped.
 */
export const AuditData = Type.Object(
  {
    method: Type.Optional(SignInMethod),
    /** The second factor of an `mfa` sign-in, or the one that failed. */
    factor: Type.Optional(literals(['totp', 'recovery_code', 'passkey'] as const)),
    /** Why a sign-in failed: the error code it was answered with. */
    reason: Type.Optional(literals(ERROR_CODES)),
    provider: Type.Optional(ProviderId),
    /** A sign-out of this session, or of all the user's sessions. */
    scope: Type.Optional(literals(['session', 'all'] as const)),
    /** How a refresh token's reuse was told (see the session store's RefreshOutcome). */
    cause: Type.Optional(literals(['replayed', 'broken_chain', 'walk_bound'] as const)),
    session_id: Type.Optional(Uuid),
    key_id: Type.Optional(Uuid),
    passkey_id: Type.Optional(Uuid),
    identity_id: Type.Optional(Uuid),
    invitation_id: Type.Optional(Uuid),
    /** The fields an admin changed (their values only for role and ban). */
    changes: Type.Optional(
      Type.Array(literals(['role', 'banned', 'name', 'email_verified', 'metadata'] as const), {
        maxItems: 5,
        uniqueItems: true,
      }),
    ),
    role: Type.Optional(AssignableRole),
    banned: Type.Optional(Type.Boolean()),
    sessions_revoked: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type AuditData = Static<typeof AuditData>;

/** The data fields each type carries: the allow-list a producer's data is cut down to. */
export const AUDIT_DATA_FIELDS = {
  'sign_in.succeeded': ['method', 'factor'],
  'sign_in.failed': ['method', 'factor', 'reason'],
  sign_out: ['scope', 'session_id', 'sessions_revoked'],
  'refresh_token.reused': ['session_id', 'cause'],
  'password.changed': [],
  'password.reset': ['sessions_revoked'],
  'mfa.totp_enabled': [],
  'mfa.totp_disabled': [],
  'mfa.recovery_regenerated': [],
  'passkey.added': ['passkey_id'],
  'passkey.removed': ['passkey_id'],
  'api_key.created': ['key_id'],
  'api_key.revoked': ['key_id'],
  'identity.linked': ['provider'],
  'identity.unlinked': ['identity_id'],
  'account.deleted': [],
  'invitation.accepted': ['role'],
  'admin.user_updated': ['changes', 'role', 'banned'],
  'admin.user_deleted': [],
  'admin.sessions_revoked': ['sessions_revoked'],
  'admin.invitation_created': ['invitation_id', 'role'],
  'admin.invitation_revoked': ['invitation_id'],
} as const satisfies Record<AuditEventType, readonly (keyof AuditData)[]>;

/** One fact of the audit log, as it travels through the queue. */
export const AuditEvent = Type.Object(
  {
    v: Type.Literal(1),
    /** A UUID v7 (time-ordered): the list's order and cursor, and the queue's dedup id. */
    id: Uuid,
    project_id: Uuid,
    type: AuditEventType,
    /** The account it is about; null when none is known (a failed sign-in of an unknown address). */
    user_id: Type.Union([Uuid, Type.Null()]),
    /** Who did it when not the user: the admin of an admin action. */
    actor_id: Type.Union([Uuid, Type.Null()]),
    ip: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
    user_agent: Type.Union([Type.String({ maxLength: 512 }), Type.Null()]),
    /** When it happened (ISO time), at its producer. */
    at: Timestamp,
    data: AuditData,
  },
  { additionalProperties: false },
);
export type AuditEvent = Static<typeof AuditEvent>;

/** An event as GET /admin/audit answers it (`user_agent` and `actor_id` extend the contract's fields). */
export const AuditEventView = Type.Object({
  id: Uuid,
  type: AuditEventType,
  user_id: Type.Union([Uuid, Type.Null()]),
  actor_id: Type.Union([Uuid, Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  at: Timestamp,
  data: AuditData,
});
export type AuditEventView = Static<typeof AuditEventView>;
