import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { type Static, Type } from '@sinclair/typebox';

// The browser's credential responses, as `PublicKeyCredential.toJSON()` (or
// @simplewebauthn/browser) writes them. Checked for shape here; their content
// (signatures, challenge, origin) by @simplewebauthn/server.

const Base64Url = Type.String({ minLength: 1, maxLength: 65_536, pattern: '^[A-Za-z0-9_-]+={0,2}$' });
const Common = {
  id: Base64Url,
  rawId: Base64Url,
  type: Type.Literal('public-key'),
  clientExtensionResults: Type.Record(Type.String(), Type.Unknown()),
  authenticatorAttachment: Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')])),
};

export const RegistrationResponse = Type.Object({
  ...Common,
  response: Type.Object({
    clientDataJSON: Base64Url,
    attestationObject: Base64Url,
    transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 })),
  }),
});

export const AuthenticationResponse = Type.Object({
  ...Common,
  response: Type.Object({
    clientDataJSON: Base64Url,
    authenticatorData: Base64Url,
    signature: Base64Url,
    userHandle: Type.Optional(Type.String({ maxLength: 1024 })),
  }),
});

/** The transports WebAuthn Level 3 names; browsers may send others, which are dropped. */
const KNOWN_TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;
type Transport = (typeof KNOWN_TRANSPORTS)[number];

export function knownTransports(transports: readonly string[] | undefined): Transport[] {
  return (transports ?? []).filter((t): t is Transport => (KNOWN_TRANSPORTS as readonly string[]).includes(t));
}

/** The checked registration response, typed for @simplewebauthn/server. */
export function toRegistrationJson(r: Static<typeof RegistrationResponse>): RegistrationResponseJSON {
  return {
    ...r,
    response: {
      clientDataJSON: r.response.clientDataJSON,
      attestationObject: r.response.attestationObject,
      transports: knownTransports(r.response.transports),
    },
  };
}

/** The checked authentication response, typed for @simplewebauthn/server. */
export function toAuthenticationJson(r: Static<typeof AuthenticationResponse>): AuthenticationResponseJSON {
  return { ...r };
}

/** The `challenge` member of a response's clientDataJSON, or null when it has none. */
export function challengeOf(clientDataJSON: string): string | null {
  try {
    const data: unknown = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
    if (data && typeof data === 'object' && 'challenge' in data && typeof data.challenge === 'string') {
      return data.challenge;
    }
  } catch {
    // Not JSON: no challenge to find.
  }
  return null;
}
