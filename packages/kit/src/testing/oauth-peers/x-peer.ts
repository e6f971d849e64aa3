// A local server speaking X's (Twitter's) OAuth 2.0 authorization code flow with PKCE as
// https://developer.x.com/en/docs/authentication/oauth-2-0/authorization-code and .../user-access-token describe it,
// plus GET /2/users/me. X gives no email address.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CODE_TTL_MS,
  type CodeGrant,
  ExpiringStore,
  findClient,
  type IssuedToken,
  pkceMatches,
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
import type { OAuthClient, OAuthPeer, RecordedRequest, TokenFaults } from './types.ts';

/** An X user, keyed by its id (a numeric string at X). */
export interface XAccount {
  name: string;
  username: string;
  /** Returned only when the request asks `user.fields=profile_image_url`. */
  profile_image_url?: string;
}

/** Options of `startXPeer`. Clients are confidential: they authenticate at the token endpoint with HTTP Basic. */
export interface XPeerOptions extends TokenFaults {
  clients: OAuthClient[];
  accounts?: Record<string, XAccount>;
}

/** The X peer; `userinfoUrl` is `GET /2/users/me`. */
export interface XPeer extends OAuthPeer<XAccount> {
  /** Changes the token faults; keys present apply (`{ tokenStatus: undefined }` clears it). */
  set(changes: TokenFaults): void;
}

const PATHS = {
  authorize: '/i/oauth2/authorize',
  token: '/2/oauth2/token',
  me: '/2/users/me',
} as const;

/** The scopes GET /2/users/me needs. */
const ME_SCOPES = ['tweet.read', 'users.read'];

interface PendingRequest {
  client: OAuthClient;
  redirectUri: string;
  state: string;
  scopes: string[];
  codeChallenge: string;
}

/** Starts the X peer on 127.0.0.1. PKCE with S256 is required (X also documents `plain`; this peer refuses it). */
export async function startXPeer(options: XPeerOptions): Promise<XPeer> {
  const clients = options.clients.map((client) => ({ ...client, redirect_uris: [...client.redirect_uris] }));
  const accounts = new Map(Object.entries(options.accounts ?? {}).map(([id, account]) => [id, { ...account }]));
  const faults = new TokenFaultState(options);
  const requests: RecordedRequest[] = [];
  const pending = new ExpiringStore<PendingRequest>();
  const codes = new ExpiringStore<CodeGrant>();
  const tokens = new ExpiringStore<IssuedToken>();
  let origin = '';

  function authorizeEndpoint(res: ServerResponse, query: Record<string, string>) {
    const client = findClient(clients, query.client_id);
    if (!client) return sendJson(res, 400, { error: 'invalid_client', error_description: 'unknown client_id' });
    if (!redirectUriAllowed(client, query.redirect_uri)) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'redirect_uri is not registered' });
    }
    const back = (description: string) =>
      redirect(
        res,
        withQuery(query.redirect_uri!, {
          error: 'invalid_request',
          error_description: description,
          state: query.state,
        }),
      );
    const scopes = scopesOf(query.scope);
    if (query.response_type !== 'code') return back('response_type must be code');
    if (scopes.length === 0) return back('scope is required');
    if (!query.state) return back('state is required');
    if (!query.code_challenge) return back('code_challenge is required');
    if (query.code_challenge_method !== 'S256') return back('code_challenge_method must be S256');
    const request: PendingRequest = {
      client,
      redirectUri: query.redirect_uri,
      state: query.state,
      scopes,
      codeChallenge: query.code_challenge,
    };
    const page: PeerPage = {
      prompt: 'consent',
      action: PATHS.authorize,
      fields: { request: pending.add(request, CODE_TTL_MS) },
    };
    sendJson(res, 200, page);
  }

  function decisionEndpoint(res: ServerResponse, body: Record<string, string>) {
    const request = pending.take(body.request);
    if (!request) return sendJson(res, 400, { error: 'invalid_request', error_description: 'unknown or used request' });
    if (body.decision !== 'allow') {
      return redirect(res, withQuery(request.redirectUri, { error: 'access_denied', state: request.state }));
    }
    const id = body.login ?? '';
    if (!accounts.has(id))
      return sendJson(res, 400, { error: 'login_required', error_description: `no account ${id}` });
    const grant: CodeGrant = {
      clientId: request.client.client_id,
      redirectUri: request.redirectUri,
      sub: id,
      scopes: request.scopes,
      codeChallenge: request.codeChallenge,
      codeChallengeMethod: 'S256',
      authTime: Math.floor(Date.now() / 1000),
    };
    redirect(res, withQuery(request.redirectUri, { state: request.state, code: codes.add(grant, CODE_TTL_MS) }));
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse, body: Record<string, string>) {
    const invalid = (description: string, status = 400) =>
      sendJson(res, status, { error: 'invalid_request', error_description: description });
    const status = await faults.apply();
    if (status !== undefined) return invalid('Value passed for the authorization code was invalid.', status);
    const basic = basicCredentials(req.headers.authorization);
    const client = findClient(clients, basic?.id);
    if (!basic || !client || !secretMatches(client, basic.secret)) {
      return sendJson(res, 401, {
        error: 'unauthorized_client',
        error_description: 'Missing valid authorization header',
      });
    }
    if (body.client_id !== undefined && body.client_id !== client.client_id) return invalid('client_id does not match');
    if (body.grant_type !== 'authorization_code') return invalid('grant_type must be authorization_code');
    const grant = codes.take(body.code);
    if (!grant || grant.clientId !== client.client_id) {
      return invalid('Value passed for the authorization code was invalid.');
    }
    if (body.redirect_uri !== grant.redirectUri) return invalid('Value passed for the redirect uri did not match.');
    if (!pkceMatches(body.code_verifier, grant.codeChallenge ?? '')) {
      return invalid('Value passed for the code verifier did not match the code challenge.');
    }
    const accessToken = tokens.add(
      { clientId: client.client_id, sub: grant.sub, scopes: grant.scopes },
      TOKEN_TTL_S * 1000,
    );
    sendJson(res, 200, {
      token_type: 'bearer',
      expires_in: TOKEN_TTL_S,
      access_token: accessToken,
      scope: grant.scopes.join(' '),
    });
  }

  function meEndpoint(req: IncomingMessage, res: ServerResponse, query: Record<string, string>) {
    const problem = (status: number, title: string) =>
      sendJson(res, status, { title, type: 'about:blank', status, detail: title });
    const token = tokens.get(authorizationToken(req.headers.authorization));
    const account = token && accounts.get(token.sub);
    if (!token || !account) return problem(401, 'Unauthorized');
    if (!ME_SCOPES.every((scope) => token.scopes.includes(scope))) return problem(403, 'Forbidden');
    const fields = scopesOf(query['user.fields'], /,/);
    const data: Record<string, string> = { id: token.sub, name: account.name, username: account.username };
    if (fields.includes('profile_image_url') && account.profile_image_url !== undefined) {
      data.profile_image_url = account.profile_image_url;
    }
    sendJson(res, 200, { data });
  }

  const server = await startHttpServer(async (req, res) => {
    const record = await receive(req, origin, requests);
    switch (`${record.method} ${record.path}`) {
      case `GET ${PATHS.authorize}`:
        return authorizeEndpoint(res, record.query);
      case `POST ${PATHS.authorize}`:
        return decisionEndpoint(res, record.body);
      case `POST ${PATHS.token}`:
        return tokenEndpoint(req, res, record.body);
      case `GET ${PATHS.me}`:
        return meEndpoint(req, res, record.query);
      default:
        return sendJson(res, 404, { title: 'Not Found Error', type: 'about:blank', status: 404 });
    }
  });
  origin = server.origin;

  return {
    issuer: origin,
    authorizationUrl: origin + PATHS.authorize,
    tokenUrl: origin + PATHS.token,
    userinfoUrl: origin + PATHS.me,
    requests,
    authorize: (authorizationRequestUrl, how) => browse(authorizationRequestUrl, clients, how),
    setAccount: (id, account) => {
      accounts.set(id, { ...account });
    },
    set: (changes) => faults.set(changes),
    close: async () => {
      faults.abort();
      await server.close();
    },
  };
}
