// The uniform driver every OAuth / OpenID Connect test peer exposes.

/** A client registered at a peer when it starts. */
export interface OAuthClient {
  client_id: string;
  client_secret: string;
  /** Exact redirect URIs; the peer refuses any other. */
  redirect_uris: string[];
}

/** What a browser does at the provider: sign in as the account `as` and consent, or deny. */
export type AuthorizeOptions = { as: string } | { deny: true };

/** One request a peer received, kept for assertions. Header names are lower case. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The parsed form or JSON body (values stringified); empty when there was none. */
  body: Record<string, string>;
  headers: Record<string, string>;
}

/** Faults of the token endpoint, settable after start with `peer.set(...)`. */
export interface TokenFaults {
  /** Delays every token endpoint answer by this much (a slow provider). */
  tokenDelayMs?: number;
  /** Makes the token endpoint answer the provider's OAuth error JSON with this HTTP status. */
  tokenStatus?: number;
}

/** A running OAuth / OpenID Connect provider on 127.0.0.1 that tests drive like a browser would. */
export interface OAuthPeer<Account> {
  /** Base URL, `http://127.0.0.1:PORT`; for OpenID Connect the issuer (discovery at /.well-known/openid-configuration). */
  readonly issuer: string;
  readonly authorizationUrl: string;
  readonly tokenUrl: string;
  readonly userinfoUrl: string;
  /**
   * What a browser does at the provider: takes the authorization URL our server redirected to, signs in as
   * `as` and consents (or denies), following the provider's own redirects with its cookies, and returns the
   * URL the provider redirects back to (a registered redirect_uri with code & state, or error=access_denied & state)
   * WITHOUT fetching it. Throws when the provider shows an error page instead.
   */
  authorize(authorizationRequestUrl: string | URL, options: AuthorizeOptions): Promise<URL>;
  /** Creates or replaces the account with the provider's subject id `sub`; takes effect on the next request. */
  setAccount(sub: string, account: Account): void;
  /** Requests the peer received, oldest first. */
  readonly requests: ReadonlyArray<RecordedRequest>;
  /** Stops the server, dropping open connections; resolves once it is closed. */
  close(): Promise<void>;
}

/** An account at an OpenID Connect provider: the claims its ID tokens and userinfo carry (scope `email`, `profile`). */
export interface OidcAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
  picture?: string;
}
