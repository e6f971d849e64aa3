import { Type } from '@sinclair/typebox';
import { Amr, Jwk, Role, SessionInfo, Uuid } from '../objects.ts';
import { requests } from '../subjects.ts';
import { Client, Empty, EmptyRequest, Request } from './shapes.ts';

const Tokens = Type.Object({
  access_token: Type.String(),
  expires_in: Type.Integer(),
  refresh_token: Type.String(),
  session_id: Uuid,
});

/** The session service's subjects: sessions, the revocation list and the signing keys. */
/**
 * The project's lifetimes (seconds), when it sets its own: never above the
 * instance's ACCESS_TOKEN_TTL / REFRESH_TOKEN_TTL (a longer one is cut to them).
 */
const ProjectLifetimes = {
  access_ttl: Type.Optional(Type.Integer({ minimum: 60 })),
  refresh_ttl: Type.Optional(Type.Integer({ minimum: 300 })),
};

export const sessionRequests = {
  [requests.sessionCreate]: {
    request: Request({
      user_id: Uuid,
      project_id: Uuid,
      role: Role,
      amr: Amr,
      ...Client,
      ...ProjectLifetimes,
    }),
    response: Tokens,
  },
  [requests.sessionRefresh]: {
    request: Request({
      refresh_token: Type.String({ maxLength: 512 }),
      /**
       * The project the request names: a refresh token of another project is
       * refused, unused (`invalid_grant`). The gateway always sends it.
       */
      project_id: Type.Optional(Uuid),
      ...Client,
      ...ProjectLifetimes,
    }),
    response: Type.Composite([Tokens, Type.Object({ user_id: Uuid, project_id: Uuid })]),
  },
  [requests.sessionRevoke]: {
    /**
     * The session of `user_id` (its owner: sessions are stored by user). Another
     * user's, or none, is `not_found`.
     */
    request: Request({ session_id: Uuid, user_id: Uuid, reason: Type.String() }),
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
};
