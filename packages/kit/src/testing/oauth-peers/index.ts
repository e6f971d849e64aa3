// OAuth 2.0 / OpenID Connect providers for integration tests, on 127.0.0.1: `import { ... } from '@gatehouse/kit/testing'`.

export { s256 } from './authorization.ts';
export {
  type FakeOidcChanges,
  type FakeOidcPeer,
  type FakeOidcPeerOptions,
  type IdTokenTamper,
  scopedClaims,
  startFakeOidcPeer,
} from './fake-oidc-peer.ts';
export {
  type GitHubAccount,
  type GitHubEmail,
  type GitHubPeer,
  type GitHubPeerOptions,
  startGitHubPeer,
} from './github-peer.ts';
export { type OidcPeer, type OidcPeerOptions, startOidcPeer } from './oidc-peer.ts';
export type { AuthorizeOptions, OAuthClient, OAuthPeer, OidcAccount, RecordedRequest, TokenFaults } from './types.ts';
export { startXPeer, type XAccount, type XPeer, type XPeerOptions } from './x-peer.ts';
