import type { OAuthProviderSettings } from '@gatehouse/kit';
import * as oauth from 'oauth4webapi';

/** Who signed in at the provider, as Gatehouse keeps it. */
export interface ProviderProfile {
  /** The provider's stable id of the account: what a later sign-in is matched on, never the email. */
  subject: string;
  /** Lower case; null when the provider gives none (X, or a GitHub account with no address). */
  email: string | null;
  /** True only when the provider says so explicitly. */
  emailVerified: boolean;
  name: string | null;
  avatarUrl: string | null;
}

/**
 * Why a flow failed at the provider, as the `?error=` of the redirect back to
 * the app: the user said no, the provider answered with an error, the code
 * could not be traded, the provider's answer failed a check (an ID token's
 * signature, issuer, audience, nonce or expiry), or it was down or too slow.
 */
export type ProviderFailure =
  | 'access_denied'
  | 'provider_error'
  | 'token_exchange_failed'
  | 'invalid_provider_response'
  | 'provider_unavailable';

export class ProviderFlowError extends Error {
  readonly failure: ProviderFailure;

  constructor(failure: ProviderFailure, message: string, cause?: unknown) {
    super(message, { cause });
    this.failure = failure;
  }
}

/** What one flow must remember between the redirect to the provider and the callback. */
export interface FlowSecrets {
  state: string;
  codeVerifier: string;
  /** OpenID Connect only. */
  nonce?: string;
}

const isNetworkFailure = (err: unknown) =>
  err instanceof TypeError || (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError'));

/**
 * One social provider, spoken to with oauth4webapi: the authorization URL
 * (state, PKCE S256 and, for OpenID Connect, a nonce) and the callback (the
 * response checked against the state, the code traded with the verifier, the
 * ID token validated, the profile read). Every call to the provider is bounded
 * by `timeoutMs`; every failure is a ProviderFlowError.
 */
export class ProviderClient {
  readonly settings: OAuthProviderSettings;
  readonly #redirectUri: string;
  readonly #timeoutMs: number;
  readonly #client: oauth.Client;
  readonly #auth: oauth.ClientAuth;
  #server: Promise<oauth.AuthorizationServer> | undefined;

  constructor(settings: OAuthProviderSettings, options: { redirectUri: string; timeoutMs: number }) {
    this.settings = settings;
    this.#redirectUri = options.redirectUri;
    this.#timeoutMs = options.timeoutMs;
    this.#client = { client_id: settings.clientId };
    // GitHub takes the secret in the form; OpenID Connect providers and X take HTTP Basic.
    this.#auth =
      settings.kind === 'github'
        ? oauth.ClientSecretPost(settings.clientSecret)
        : oauth.ClientSecretBasic(settings.clientSecret);
  }

  /**
   * Options for every request to the provider: the deadline (`deadline`, one
   * for all the calls of a callback, else a timeout per call), and plain http
   * where config allowed it (loopback only).
   */
  #http(deadline?: AbortSignal): {
    signal: AbortSignal | (() => AbortSignal);
    [oauth.allowInsecureRequests]?: boolean;
  } {
    const urls = [
      this.settings.issuer,
      this.settings.authorizationUrl,
      this.settings.tokenUrl,
      this.settings.userinfoUrl,
      this.settings.jwksUrl,
      this.settings.emailsUrl,
    ];
    // kit's oauthProviders admits http only for loopback hosts.
    const insecure = urls.some((u) => u?.startsWith('http:'));
    return {
      signal: deadline ?? (() => AbortSignal.timeout(this.#timeoutMs)),
      ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}),
    };
  }

  /**
   * The provider's metadata: discovered from the issuer for OpenID Connect
   * (once, and again after a failure), with the configured endpoints on top;
   * the configured endpoints alone for GitHub and X.
   */
  server(deadline?: AbortSignal): Promise<oauth.AuthorizationServer> {
    this.#server ??= this.#resolveServer(deadline).catch((err: unknown) => {
      this.#server = undefined;
      throw err;
    });
    return this.#server;
  }

  async #resolveServer(deadline?: AbortSignal): Promise<oauth.AuthorizationServer> {
    const s = this.settings;
    const overrides = {
      ...(s.authorizationUrl ? { authorization_endpoint: s.authorizationUrl } : {}),
      ...(s.tokenUrl ? { token_endpoint: s.tokenUrl } : {}),
      ...(s.userinfoUrl ? { userinfo_endpoint: s.userinfoUrl } : {}),
      ...(s.jwksUrl ? { jwks_uri: s.jwksUrl } : {}),
    };
    if (s.kind !== 'oidc' || !s.issuer) {
      const issuer = s.issuer ?? new URL(s.authorizationUrl as string).origin;
      return { issuer, ...overrides };
    }
    const issuer = new URL(s.issuer);
    let discovered: oauth.AuthorizationServer;
    try {
      const response = await oauth.discoveryRequest(issuer, { ...this.#http(deadline), algorithm: 'oidc' });
      discovered = await oauth.processDiscoveryResponse(issuer, response);
    } catch (err) {
      throw new ProviderFlowError(
        isNetworkFailure(err) ? 'provider_unavailable' : 'invalid_provider_response',
        `the discovery document of ${s.id} could not be read`,
        err,
      );
    }
    return { ...discovered, ...overrides };
  }

  /** New secrets for a flow: the state, the PKCE verifier and, for OpenID Connect, the nonce. */
  newSecrets(): FlowSecrets {
    return {
      state: oauth.generateRandomState(),
      codeVerifier: oauth.generateRandomCodeVerifier(),
      ...(this.settings.kind === 'oidc' ? { nonce: oauth.generateRandomNonce() } : {}),
    };
  }

  /** Where to send the browser. PKCE S256 always, also for GitHub, which does not require it. */
  async authorizationUrl(secrets: FlowSecrets): Promise<URL> {
    const as = await this.server();
    if (!as.authorization_endpoint) {
      throw new ProviderFlowError('invalid_provider_response', `${this.settings.id} names no authorization endpoint`);
    }
    const url = new URL(as.authorization_endpoint);
    const params = url.searchParams;
    params.set('response_type', 'code');
    params.set('client_id', this.settings.clientId);
    params.set('redirect_uri', this.#redirectUri);
    params.set('scope', this.settings.scopes.join(' '));
    params.set('state', secrets.state);
    params.set('code_challenge', await oauth.calculatePKCECodeChallenge(secrets.codeVerifier));
    params.set('code_challenge_method', 'S256');
    if (secrets.nonce) params.set('nonce', secrets.nonce);
    return url;
  }

  /**
   * The callback: checks the provider's answer against the flow's state,
   * trades the code (with the PKCE verifier), validates the ID token for
   * OpenID Connect (its signature against the provider's JWKS, then issuer,
   * audience, expiry and nonce) and reads the profile.
   */
  async finish(callback: URLSearchParams, secrets: FlowSecrets): Promise<ProviderProfile> {
    // One deadline for the whole callback, not one per call: a provider slow at every step must
    // still end in a redirect with ?error= before the gateway's request to identity times out.
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const as = await this.server(deadline);
    let params: URLSearchParams;
    try {
      params = oauth.validateAuthResponse(as, this.#client, callback, secrets.state);
    } catch (err) {
      const code = err instanceof oauth.AuthorizationResponseError ? err.error : undefined;
      throw new ProviderFlowError(
        code === 'access_denied' ? 'access_denied' : 'provider_error',
        code ? `${this.settings.id} answered ${code}` : `${this.settings.id} sent back an unusable answer`,
        err,
      );
    }
    const tokens = await this.#trade(as, params, secrets, deadline);
    if (this.settings.kind === 'oidc') return this.#oidcProfile(as, tokens, deadline);
    return this.settings.kind === 'github'
      ? this.#githubProfile(tokens.access_token, deadline)
      : this.#xProfile(tokens.access_token, deadline);
  }

  async #trade(
    as: oauth.AuthorizationServer,
    params: URLSearchParams,
    secrets: FlowSecrets,
    deadline: AbortSignal,
  ): Promise<oauth.TokenEndpointResponse> {
    let response: Response;
    try {
      response = await oauth.authorizationCodeGrantRequest(
        as,
        this.#client,
        this.#auth,
        params,
        this.#redirectUri,
        secrets.codeVerifier,
        this.#http(deadline),
      );
    } catch (err) {
      throw new ProviderFlowError(
        isNetworkFailure(err) ? 'provider_unavailable' : 'token_exchange_failed',
        `the token endpoint of ${this.settings.id} could not be reached`,
        err,
      );
    }
    const copy = response.clone();
    try {
      const tokens = await oauth.processAuthorizationCodeResponse(as, this.#client, response, {
        ...(secrets.nonce ? { expectedNonce: secrets.nonce, requireIdToken: true } : {}),
      });
      if (secrets.nonce) {
        // oauth4webapi checks the claims; the signature against the provider's JWKS is this call.
        await oauth.validateApplicationLevelSignature(as, response, this.#http(deadline));
      }
      // Returned as it is: oauth4webapi finds the validated ID token claims by this object.
      return tokens;
    } catch (err) {
      if (copy.status >= 500) {
        throw new ProviderFlowError('provider_unavailable', `the token endpoint of ${this.settings.id} failed`, err);
      }
      // An OAuth error body (GitHub sends one with status 200): the code was refused.
      const body = (await copy.json().catch(() => null)) as { error?: unknown } | null;
      if (err instanceof oauth.ResponseBodyError || typeof body?.error === 'string') {
        throw new ProviderFlowError('token_exchange_failed', `${this.settings.id} refused the code`, err);
      }
      throw new ProviderFlowError(
        isNetworkFailure(err) ? 'provider_unavailable' : 'invalid_provider_response',
        `the token response of ${this.settings.id} failed validation`,
        err,
      );
    }
  }

  async #oidcProfile(
    as: oauth.AuthorizationServer,
    tokens: oauth.TokenEndpointResponse,
    deadline: AbortSignal,
  ): Promise<ProviderProfile> {
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    if (!claims) throw new ProviderFlowError('invalid_provider_response', `${this.settings.id} sent no ID token`);
    let info: Record<string, unknown> = {};
    if (as.userinfo_endpoint) {
      // The ID token may carry only `sub`: the address and the name come from userinfo, for the same subject.
      try {
        const response = await oauth.userInfoRequest(as, this.#client, tokens.access_token, this.#http(deadline));
        info = { ...(await oauth.processUserInfoResponse(as, this.#client, claims.sub, response)) };
      } catch (err) {
        throw new ProviderFlowError(
          isNetworkFailure(err) ? 'provider_unavailable' : 'invalid_provider_response',
          `the userinfo of ${this.settings.id} could not be read`,
          err,
        );
      }
    }
    const merged: Record<string, unknown> = { ...claims, ...info, sub: claims.sub };
    const email = typeof merged.email === 'string' && merged.email !== '' ? merged.email.toLowerCase() : null;
    // Some providers send the flag as a string.
    const verified = merged.email_verified === true || merged.email_verified === 'true';
    return {
      subject: claims.sub,
      email,
      emailVerified: email !== null && verified,
      name: typeof merged.name === 'string' ? merged.name : null,
      avatarUrl: typeof merged.picture === 'string' ? merged.picture : null,
    };
  }

  /** A GET to one of the provider's APIs with the access token; null for a 401, 403 or 404 (no such scope, no such data). */
  async #api(
    url: string,
    accessToken: string,
    headers: Record<string, string>,
    deadline: AbortSignal,
  ): Promise<unknown> {
    let response: Response;
    try {
      response = await oauth.protectedResourceRequest(
        accessToken,
        'GET',
        new URL(url),
        new Headers(headers),
        null,
        this.#http(deadline),
      );
    } catch (err) {
      throw new ProviderFlowError(
        isNetworkFailure(err) ? 'provider_unavailable' : 'invalid_provider_response',
        `${url} could not be read`,
        err,
      );
    }
    if ([401, 403, 404].includes(response.status)) return null;
    if (response.status >= 500)
      throw new ProviderFlowError('provider_unavailable', `${url} answered ${response.status}`);
    if (!response.ok) throw new ProviderFlowError('invalid_provider_response', `${url} answered ${response.status}`);
    return response.json().catch((err: unknown) => {
      throw new ProviderFlowError('invalid_provider_response', `${url} sent no JSON`, err);
    });
  }

  /** GitHub: the profile from its user API, the address from its emails API (the verified primary one). */
  async #githubProfile(accessToken: string, deadline: AbortSignal): Promise<ProviderProfile> {
    // GitHub's API refuses requests without a User-Agent.
    const headers = { accept: 'application/vnd.github+json', 'user-agent': 'Gatehouse' };
    const user = (await this.#api(this.settings.userinfoUrl as string, accessToken, headers, deadline)) as {
      id?: unknown;
      name?: unknown;
      login?: unknown;
      avatar_url?: unknown;
    } | null;
    if (!user || (typeof user.id !== 'number' && typeof user.id !== 'string')) {
      throw new ProviderFlowError('invalid_provider_response', 'GitHub sent no user id');
    }
    const emails = this.settings.emailsUrl
      ? await this.#api(this.settings.emailsUrl, accessToken, headers, deadline)
      : null;
    const primary = Array.isArray(emails)
      ? (emails as { email?: unknown; primary?: unknown; verified?: unknown }[]).find(
          (e) => e.primary === true && typeof e.email === 'string',
        )
      : undefined;
    const email = primary ? (primary.email as string).toLowerCase() : null;
    return {
      subject: String(user.id),
      email,
      emailVerified: email !== null && primary?.verified === true,
      name: typeof user.name === 'string' ? user.name : typeof user.login === 'string' ? user.login : null,
      avatarUrl: typeof user.avatar_url === 'string' ? user.avatar_url : null,
    };
  }

  /** X: the profile from users/me. X gives no address: such an account has none until the user adds one. */
  async #xProfile(accessToken: string, deadline: AbortSignal): Promise<ProviderProfile> {
    const url = new URL(this.settings.userinfoUrl as string);
    url.searchParams.set('user.fields', 'profile_image_url');
    const body = (await this.#api(url.toString(), accessToken, { accept: 'application/json' }, deadline)) as {
      data?: { id?: unknown; name?: unknown; username?: unknown; profile_image_url?: unknown };
    } | null;
    const data = body?.data;
    if (!data || typeof data.id !== 'string')
      throw new ProviderFlowError('invalid_provider_response', 'X sent no user id');
    return {
      subject: data.id,
      email: null,
      emailVerified: false,
      name: typeof data.name === 'string' ? data.name : typeof data.username === 'string' ? data.username : null,
      avatarUrl: typeof data.profile_image_url === 'string' ? data.profile_image_url : null,
    };
  }
}
