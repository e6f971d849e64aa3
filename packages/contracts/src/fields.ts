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

/** A social provider's id in URLs: `google`, `github`, `twitter`, or a configured OpenID Connect name. */
export const ProviderId = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'a provider id, e.g. google' });
/** An enabled social provider, for a sign-in page's buttons. */
export const SocialProvider = Type.Object({
  id: ProviderId,
  name: Type.String(),
  type: Type.Union([Type.Literal('oidc'), Type.Literal('oauth2')]),
});
export type SocialProvider = Static<typeof SocialProvider>;
/** A provider account linked to the user, as listed to its owner. */
export const LinkedIdentity = Type.Object({
  id: Uuid,
  provider: ProviderId,
  email: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
});
export type LinkedIdentity = Static<typeof LinkedIdentity>;
/**
 * The `?error=` a social sign-in's redirect back to the app carries: the user
 * said no at the provider; the provider answered with an error, refused the
 * code, sent an answer that failed a check, or was down or too slow; the
 * address belongs to an account the provider does not prove is this user's
 * (sign in to it, then link); the provider account is linked to another user;
 * the user is banned; the flow had expired or was begun in another browser;
 * or Gatehouse itself could not finish it (a database down: start again).
 */
export const OAUTH_REDIRECT_ERRORS = [
  'access_denied',
  'provider_error',
  'token_exchange_failed',
  'invalid_provider_response',
  'provider_unavailable',
  'account_exists',
  'identity_already_linked',
  'user_banned',
  'invalid_state',
  'service_unavailable',
] as const;
export type OAuthRedirectError = (typeof OAUTH_REDIRECT_ERRORS)[number];
