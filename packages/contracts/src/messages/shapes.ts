import { type TProperties, Type } from '@sinclair/typebox';
import { Uuid } from '../objects.ts';

// The shapes the services' subjects share (those the HTTP API shares too are in fields.ts).

/**
 * Requests refuse fields their subject does not name: a caller that forwards
 * more than it means to (an HTTP body spread into a payload) fails loudly
 * instead of letting the extra field override the caller's identity.
 */
export const strict = { additionalProperties: false } as const;
export const Request = <T extends TProperties>(properties: T) => Type.Object(properties, strict);

export const Email = Type.String({ minLength: 3, maxLength: 254 });
export const Empty = Type.Object({});
export const EmptyRequest = Type.Object({}, strict);
/** An absolute URL the gateway has already checked against REDIRECT_ALLOWLIST. */
export const RedirectTo = Type.Optional(Type.String({ maxLength: 2048 }));
/** A user, named by project and id. */
export const UserRef = Type.Object({ project_id: Uuid, user_id: Uuid });
/** Where a request came from, for notices ("your password was changed from ..."). */
export const Client = {
  ip: Type.Optional(Type.String({ maxLength: 64 })),
  user_agent: Type.Optional(Type.String({ maxLength: 512 })),
};
