// A small hand-made OpenID Connect provider (node:http + jose) for the hostile cases a real one will not produce:
// ID tokens wrong in one chosen way, a slow or failing token endpoint.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import {
  CODE_TTL_MS,
  type CodeGrant,
  ExpiringStore,
  findClient,
  type IssuedToken,
  pkceMatches,
  randomId,
  redirectUriAllowed,
  scopesOf,
  secretMatches,
  TOKEN_TTL_S,
  TokenFaultState,
} from './authorization.ts';
import {
  authorizationToken,
  basicCredentials,
  browse,
  type PeerPage,
  receive,
  redirect,
  sendJson,
  startHttpServer,
  withQuery,
} from './http.ts';
import type { OAuthClient, OAuthPeer, OidcAccount, RecordedRequest, TokenFaults } from './types.ts';

/** How `startFakeOidcPeer` spoils its ID tokens; `none` issues good ones. */
export type IdTokenTamper = 'signature' | 'nonce' | 'audience' | 'issuer' | 'expired' | 'none';

/** What `FakeOidcPeer.set` changes after start. */
export interface FakeOidcChanges extends TokenFaults {
  /** `signature`: signed by a key not in the JWKS (same kid); `nonce`: another nonce; `audience`: another aud;
   * `issuer`: another iss; `expired`: exp an hour ago. */
  tamper?: IdTokenTamper;
}

/** Options of `startFakeOidcPeer`. */
export interface FakeOidcPeerOptions extends FakeOidcChanges {
  clients: OAuthClient[];
  /** Accounts by subject id. */
  accounts?: Record<string, OidcAccount>;
}

/** The hand-made OpenID Connect peer. */
export interface FakeOidcPeer extends OAuthPeer<OidcAccount> {
  readonly jwksUrl: string;
  /** Changes the tamper mode or the token faults; keys present apply (`{ tokenStatus: undefined }` clears it). */
  set(changes: FakeOidcChanges): void;
}

const PATHS = {
  discovery: '/.well-known/openid-configuration',
  jwks: '/jwks',
  authorize: '/authorize',
  decision: '/authorize/decision',
  token: '/token',
  userinfo: '/userinfo',
} as const;

/** The claims of `account` that `scopes` release, with `sub`. */
export function scopedClaims(sub: string, account: OidcAccount, scopes: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = { sub };
  if (scopes.includes('email')) {
    if (account.email !== undefined) claims.email = account.email;
    if (account.email_verified !== undefined) claims.email_verified = account.email_verified;
  }
  if (scopes.includes('profile')) {
    if (account.name !== undefined) claims.name = account.name;
    if (account.picture !== undefined) claims.picture = account.picture;
  }
  return claims;
}

interface PendingRequest {
  client: OAuthClient;
  redirectUri: string;
  state?: string;
  nonce?: string;
  scopes: string[];
  codeChallenge: string;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function makeSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** Starts the hand-made OpenID Connect peer on 127.0.0.1: discovery, JWKS, authorize, token (PKCE S256), userinfo. */
export async function startFakeOidcPeer(options: FakeOidcPeerOptions): Promise<FakeOidcPeer> {
  const clients = options.clients.map((client) => ({ ...client, redirect_uris: [...client.redirect_uris] }));
  const accounts = new Map(Object.entries(options.accounts ?? {}));
  const faults = new TokenFaultState(options);
  let tamper: IdTokenTamper = options.tamper ?? 'none';
  const requests: RecordedRequest[] = [];
  const pending = new ExpiringStore<PendingRequest>();
  const codes = new ExpiringStore<CodeGrant>();
  const tokens = new ExpiringStore<IssuedToken>();
  const key = await makeSigningKey(randomId(8));
  // The 'signature' tamper signs with this one under the published kid: the JWKS key will not verify it.
  const rogueKey = await makeSigningKey(key.kid);

  let issuer = '';
  const url = (path: string) => issuer + path;

  async function idToken(grant: CodeGrant, client: OAuthClient, account: OidcAccount): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = {
      ...scopedClaims(grant.sub, account, grant.scopes),
      iss: issuer,
      aud: client.client_id,
      iat: now,
      exp: now + 3600,
      auth_time: grant.authTime,
    };
    if (grant.nonce !== undefined) payload.nonce = grant.nonce;
    if (tamper === 'nonce') payload.nonce = `not-${grant.nonce ?? 'sent'}-${randomId(6)}`;
    if (tamper === 'audience') payload.aud = `another-client-${randomId(6)}`;
    if (tamper === 'issuer') payload.iss = 'https://issuer.invalid';
    if (tamper === 'expired') {
      payload.iat = now - 7200;
      payload.exp = now - 3600;
    }
    const signer = tamper === 'signature' ? rogueKey : key;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: signer.kid, typ: 'JWT' })
      .sign(signer.privateKey);
  }

  function authorizeEndpoint(res: ServerResponse, query: Record<string, string>) {
    const client = findClient(clients, query.client_id);
    if (!client) return sendJson(res, 400, { error: 'invalid_client', error_description: 'unknown client_id' });
    if (!redirectUriAllowed(client, query.redirect_uri)) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'redirect_uri is not registered' });
    }
    const back = (error: string, description: string) =>
      redirect(
        res,
        withQuery(query.redirect_uri!, { error, error_description: description, state: query.state, iss: issuer }),
      );
    const scopes = scopesOf(query.scope);
    if (query.response_type !== 'code') return back('unsupported_response_type', 'response_type must be code');
    if (!scopes.includes('openid')) return back('invalid_scope', 'scope must include openid');
    if (!query.code_challenge) return back('invalid_request', 'code_challenge is required (PKCE)');
    if (query.code_challenge_method !== 'S256') return back('invalid_request', 'code_challenge_method must be S256');
    const request: PendingRequest = {
      client,
      redirectUri: query.redirect_uri,
      scopes,
      codeChallenge: query.code_challenge,
    };
    if (query.state !== undefined) request.state = query.state;
    if (query.nonce !== undefined) request.nonce = query.nonce;
    const page: PeerPage = {
      prompt: 'login',
      action: PATHS.decision,
      fields: { request: pending.add(request, CODE_TTL_MS) },
    };
    sendJson(res, 200, page);
  }

  function decisionEndpoint(res: ServerResponse, body: Record<string, string>) {
    const request = pending.take(body.request);
    if (!request) return sendJson(res, 400, { error: 'invalid_request', error_description: 'unknown or used request' });
    const params = { state: request.state, iss: issuer };
    if (body.decision !== 'allow') {
      return redirect(res, withQuery(request.redirectUri, { error: 'access_denied', ...params }));
    }
    const sub = body.login ?? '';
    if (!accounts.has(sub))
      return sendJson(res, 400, { error: 'login_required', error_description: `no account ${sub}` });
    const grant: CodeGrant = {
      clientId: request.client.client_id,
      redirectUri: request.redirectUri,
      sub,
      scopes: request.scopes,
      codeChallenge: request.codeChallenge,
      codeChallengeMethod: 'S256',
      authTime: Math.floor(Date.now() / 1000),
    };
    if (request.nonce !== undefined) grant.nonce = request.nonce;
    redirect(res, withQuery(request.redirectUri, { code: codes.add(grant, CODE_TTL_MS), ...params }));
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse, body: Record<string, string>) {
    const status = await faults.apply();
    if (status !== undefined) return sendJson(res, status, { error: 'invalid_grant' });
    const basic = basicCredentials(req.headers.authorization);
    if (basic && body.client_secret !== undefined) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'more than one client authentication' });
    }
    const clientId = basic?.id ?? body.client_id;
    const client = findClient(clients, clientId);
    if (!client || !secretMatches(client, basic?.secret ?? body.client_secret)) {
      return sendJson(
        res,
        401,
        { error: 'invalid_client' },
        basic ? { 'www-authenticate': 'Basic realm="token"' } : {},
      );
    }
    if (body.client_id !== undefined && body.client_id !== client.client_id) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'client_id does not match' });
    }
    if (body.grant_type !== 'authorization_code') return sendJson(res, 400, { error: 'unsupported_grant_type' });
    const grant = codes.take(body.code);
    const invalid = (description: string) =>
      sendJson(res, 400, { error: 'invalid_grant', error_description: description });
    if (!grant || grant.clientId !== client.client_id) return invalid('unknown, expired or used code');
    if (body.redirect_uri !== grant.redirectUri) return invalid('redirect_uri does not match');
    if (!pkceMatches(body.code_verifier, grant.codeChallenge ?? '')) return invalid('code_verifier does not match');
    const account = accounts.get(grant.sub);
    if (!account) return invalid('the account is gone');
    const accessToken = tokens.add(
      { clientId: client.client_id, sub: grant.sub, scopes: grant.scopes },
      TOKEN_TTL_S * 1000,
    );
    sendJson(res, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: TOKEN_TTL_S,
      id_token: await idToken(grant, client, account),
      scope: grant.scopes.join(' '),
    });
  }

  function userinfoEndpoint(req: IncomingMessage, res: ServerResponse) {
    const token = tokens.get(authorizationToken(req.headers.authorization));
    const account = token && accounts.get(token.sub);
    if (!token || !account) {
      return sendJson(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    sendJson(res, 200, scopedClaims(token.sub, account, token.scopes));
  }

  const server = await startHttpServer(async (req, res) => {
    const record = await receive(req, issuer, requests);
    const route = `${record.method} ${record.path}`;
    switch (route) {
      case `GET ${PATHS.discovery}`:
        return sendJson(res, 200, discovery());
      case `GET ${PATHS.jwks}`:
        return sendJson(res, 200, { keys: [key.publicJwk] });
      case `GET ${PATHS.authorize}`:
        return authorizeEndpoint(res, record.query);
      case `POST ${PATHS.decision}`:
        return decisionEndpoint(res, record.body);
      case `POST ${PATHS.token}`:
        return tokenEndpoint(req, res, record.body);
      case `GET ${PATHS.userinfo}`:
      case `POST ${PATHS.userinfo}`:
        return userinfoEndpoint(req, res);
      default:
        return sendJson(res, 404, { error: 'not_found' });
    }
  });
  issuer = server.origin;

  function discovery(): Record<string, unknown> {
    return {
      issuer,
      authorization_endpoint: url(PATHS.authorize),
      token_endpoint: url(PATHS.token),
      userinfo_endpoint: url(PATHS.userinfo),
      jwks_uri: url(PATHS.jwks),
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'email', 'profile'],
      claims_supported: ['sub', 'email', 'email_verified', 'name', 'picture'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    };
  }

  return {
    issuer,
    authorizationUrl: url(PATHS.authorize),
    tokenUrl: url(PATHS.token),
    userinfoUrl: url(PATHS.userinfo),
    jwksUrl: url(PATHS.jwks),
    requests,
    authorize: (authorizationRequestUrl, how) => browse(authorizationRequestUrl, clients, how),
    setAccount: (sub, account) => {
      accounts.set(sub, { ...account });
    },
    set: (changes) => {
      faults.set(changes);
      if ('tamper' in changes) tamper = changes.tamper ?? 'none';
    },
    close: async () => {
      faults.abort();
      await server.close();
    },
  };
}
