import { type Static, Type } from '@sinclair/typebox';
import { Timestamp, Uuid } from './objects.ts';

// Fields the HTTP API and the bus share: one schema each, so the edge and the
// services cannot drift apart on what they accept.

/** Passwords: 8 to 128 characters (the contract's rule). */
export const Password = Type.String({ minLength: 8, maxLength: 128 });
/** A one-time token as it arrives from a link: 43 base64url characters when well formed. */
export const OneTimeToken = Type.String({ minLength: 1, maxLength: 256 });
/** A TOTP code (6 digits) or a recovery code, as typed: spaces and dashes are ignored. */
export const SecondFactorCode = Type.String({ minLength: 1, maxLength: 64 });
/** A WebAuthn JSON object (options, or a browser's credential response), checked by @simplewebauthn/server. */
export const WebAuthnJson = Type.Record(Type.String(), Type.Unknown(), {
  description: 'a WebAuthn credential as JSON (what @simplewebauthn/browser returns)',
});
/** A passkey as listed to its owner. */
export const Passkey = Type.Object({
  id: Uuid,
  name: Type.String(),
  created_at: Timestamp,
  last_used_at: Type.Union([Timestamp, Type.Null()]),
});
export type Passkey = Static<typeof Passkey>;
