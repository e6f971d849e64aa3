import { type TSchema, Type } from '@sinclair/typebox';
import { ProjectDirectoryEntry, Role, Uuid } from '../objects.ts';
import { events } from '../subjects.ts';

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
    /** Every session the user had was revoked (logout everywhere, a ban, a reset): not one device's. */
    all: Type.Optional(Type.Boolean()),
  }),
  /** Keys that stop working now: revoked by their owner, or all of a user's at a password reset. */
  [events.apiKeysRevoked]: Type.Object({
    v: Type.Literal(1),
    project_id: Uuid,
    user_id: Uuid,
    key_ids: Type.Array(Uuid),
  }),
  /**
   * A project was created, or its name, settings or keys changed. `projects` is its directory
   * entry as it now is (none: it is gone), which every gateway applies on receipt, so the
   * change holds on every replica once the changing call has answered; without it (an older
   * publisher), gateways reload the project.
   */
  [events.projectChanged]: Type.Object({
    v: Type.Literal(1),
    project_id: Uuid,
    projects: Type.Optional(Type.Array(ProjectDirectoryEntry)),
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
