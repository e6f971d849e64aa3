import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ErrorCodeField } from '../errors.ts';
import type { requests } from '../subjects.ts';
import { eventSchemas } from './events.ts';
import { identityRequests } from './identity.ts';
import { mailerRequests } from './mailer.ts';
import { mfaRequests } from './mfa.ts';
import { sessionRequests } from './session.ts';

export { eventSchemas };

/** Request and response schema of every request subject, by owning service. Both ends validate against them. */
export const requestSchemas = {
  ...identityRequests,
  ...sessionRequests,
  ...mfaRequests,
  ...mailerRequests,
} satisfies Record<(typeof requests)[keyof typeof requests], { request: TSchema; response: TSchema }>;

export type RequestSchemas = typeof requestSchemas;
export type EventSchemas = typeof eventSchemas;
export type RequestOf<S extends keyof RequestSchemas> = Static<RequestSchemas[S]['request']>;
export type ResponseOf<S extends keyof RequestSchemas> = Static<RequestSchemas[S]['response']>;
export type EventOf<S extends keyof EventSchemas> = Static<EventSchemas[S]>;

/** The reply envelope on every request subject. */
export const ReplyError = Type.Object({
  /** A catalog code; a code this side does not know (a newer peer's) is read as `internal`. */
  code: ErrorCodeField,
  message: Type.String(),
  details: Type.Optional(Type.Array(Type.Unknown())),
  /** Seconds, for `rate_limited` and `service_unavailable`: the HTTP edge's Retry-After. */
  retry_after: Type.Optional(Type.Integer({ minimum: 0 })),
});
