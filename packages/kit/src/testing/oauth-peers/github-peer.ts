// A local server speaking GitHub's OAuth app endpoints as
// https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps describes them,
// plus the two REST calls a sign-in needs (GET /user, GET /user/emails), all on one origin.
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
  sendForm,
  sendJson,
  startHttpServer,
  withQuery,
} from './http.ts';
import type { OAuthClient, OAuthPeer, RecordedRequest, TokenFaults } from './types.ts';

/** One of a GitHub user's email addresses; `visibility` defaults to public for the public email, private for the primary. */
export interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
  visibility?: 'public' | 'private' | null;
}

/** A GitHub user, keyed by its numeric id (as a string). */
export interface GitHubAccount {
  login: string;
  name: string | null;
  avatar_url: string;
  /** The email `GET /user` shows; null when the user keeps it private. */
  public_email: string | null;
  emails: GitHubEmail[];
}

/** Options of `startGitHubPeer`. */
export interface GitHubPeerOptions extends TokenFaults {
  clients: OAuthClient[];
  accounts?: Record<string, GitHubAccount>;
}

/** The GitHub peer; `userinfoUrl` is `GET /user`. */
export interface GitHubPeer extends OAuthPeer<GitHubAccount> {
  /** `GET /user/emails` */
  readonly emailsUrl: string;
  /** Changes the token faults; keys present apply (`{ tokenStatus: undefined }` clears it). */
  set(changes: TokenFaults): void;
}

const PATHS = {
  authorize: '/login/oauth/authorize',
  token: '/login/oauth/access_token',
  user: '/user',
  emails: '/user/emails',
} as const;

const DOCS = 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/';
const TOKEN_DOCS =
  'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/';
const ERRORS = {
  redirect_uri_mismatch: 'The redirect_uri MUST match the registered callback URL for this application.',
  access_denied: 'The user has denied your application access.',
  incorrect_client_credentials: 'The client_id and/or client_secret passed are incorrect.',
  bad_verification_code: 'The code passed is incorrect or expired.',
} as const;

interface PendingRequest {
  client: OAuthClient;
  redirectUri: string;
  state?: string;
  scopes: string[];
  codeChallenge?: string;
}

/** Starts the GitHub peer on 127.0.0.1. */
export async function startGitHubPeer(options: GitHubPeerOptions): Promise<GitHubPeer> {
  const clients = options.clients.map((client) => ({ ...client, redirect_uris: [...client.redirect_uris] }));
  const accounts = new Map<string, GitHubAccount>();
  const setAccount = (id: string, account: GitHubAccount) => {
    if (!/^\d+$/.test(id)) throw new Error(`GitHub account ids are numbers, not ${JSON.stringify(id)}`);
    accounts.set(id, { ...account, emails: account.emails.map((email) => ({ ...email })) });
  };
  for (const [id, account] of Object.entries(options.accounts ?? {})) setAccount(id, account);
  const faults = new TokenFaultState(options);
  const requests: RecordedRequest[] = [];
  const pending = new ExpiringStore<PendingRequest>();
  const codes = new ExpiringStore<CodeGrant>();
  const tokens = new ExpiringStore<IssuedToken>();
  let origin = '';

  function authorizeEndpoint(res: ServerResponse, query: Record<string, string>) {
    const client = findClient(clients, query.client_id);
    if (!client) return sendJson(res, 404, { error: 'not_found', error_description: 'unknown client_id' });
    const callback = client.redirect_uris[0]!;
    if (query.redirect_uri !== undefined && !redirectUriAllowed(client, query.redirect_uri)) {
      // GitHub sends the user to the registered callback URL with the error.
      return redirect(res, withQuery(callback, errorParams('redirect_uri_mismatch', query.state)));
    }
    const redirectUri = query.redirect_uri ?? callback;
    if (query.code_challenge !== undefined && query.code_challenge_method !== 'S256') {
      return redirect(
        res,
        withQuery(redirectUri, {
          error: 'invalid_request',
          error_description: 'code_challenge_method must be S256',
          state: query.state,
        }),
      );
    }
    const request: PendingRequest = { client, redirectUri, scopes: [...new Set(scopesOf(query.scope, /[\s,]+/))] };
    if (query.state !== undefined) request.state = query.state;
    if (query.code_challenge !== undefined) request.codeChallenge = query.code_challenge;
    const page: PeerPage = {
      prompt: 'consent',
      action: PATHS.authorize,
      fields: { request: pending.add(request, CODE_TTL_MS) },
    };
    sendJson(res, 200, page);
  }

  function decisionEndpoint(res: ServerResponse, body: Record<string, string>) {
    const request = pending.take(body.request);
    if (!request) return sendJson(res, 422, { error: 'invalid_request', error_description: 'unknown or used request' });
    if (body.decision !== 'allow') {
      return redirect(res, withQuery(request.redirectUri, errorParams('access_denied', request.state)));
    }
    const id = body.login ?? '';
    if (!accounts.has(id))
      return sendJson(res, 422, { error: 'login_required', error_description: `no account ${id}` });
    const grant: CodeGrant = {
      clientId: request.client.client_id,
      redirectUri: request.redirectUri,
      sub: id,
      scopes: request.scopes,
      authTime: Math.floor(Date.now() / 1000),
    };
    if (request.codeChallenge !== undefined) {
      grant.codeChallenge = request.codeChallenge;
      grant.codeChallengeMethod = 'S256';
    }
    redirect(res, withQuery(request.redirectUri, { code: codes.add(grant, CODE_TTL_MS), state: request.state }));
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse, params: Record<string, string>) {
    const json = (req.headers.accept ?? '').includes('application/json');
    const answer = (status: number, body: Record<string, string>) =>
      json ? sendJson(res, status, body) : sendForm(res, status, body);
    // GitHub answers token errors with HTTP 200.
    const fail = (error: keyof typeof ERRORS, status = 200) =>
      answer(status, {
        error,
        error_description: ERRORS[error],
        error_uri: `${TOKEN_DOCS}#${error.replace(/_/g, '-')}`,
      });
    const status = await faults.apply();
    if (status !== undefined) return fail('bad_verification_code', status);
    const basic = basicCredentials(req.headers.authorization);
    const client = findClient(clients, basic?.id ?? params.client_id);
    if (!client || !secretMatches(client, basic?.secret ?? params.client_secret)) {
      return fail('incorrect_client_credentials');
    }
    const grant = codes.take(params.code);
    if (!grant || grant.clientId !== client.client_id) return fail('bad_verification_code');
    if (params.redirect_uri !== undefined && params.redirect_uri !== grant.redirectUri) {
      return fail('redirect_uri_mismatch');
    }
    if (grant.codeChallenge !== undefined && !pkceMatches(params.code_verifier, grant.codeChallenge)) {
      return fail('bad_verification_code');
    }
    const accessToken = tokens.add(
      { clientId: client.client_id, sub: grant.sub, scopes: grant.scopes },
      TOKEN_TTL_S * 1000,
      'gho_',
    );
    answer(200, { access_token: accessToken, token_type: 'bearer', scope: grant.scopes.join(',') });
  }

  function apiEndpoint(req: IncomingMessage, res: ServerResponse, path: string) {
    const docs = `https://docs.github.com/rest/users/${path === PATHS.user ? 'users#get-the-authenticated-user' : 'emails'}`;
    const apiError = (status: number, message: string) =>
      sendJson(res, status, { message, documentation_url: docs, status: String(status) });
    if (!req.headers['user-agent']) {
      return apiError(
        403,
        'Request forbidden by administrative rules. Please make sure your request has a User-Agent header',
      );
    }
    if (!req.headers.authorization) return apiError(401, 'Requires authentication');
    const token = tokens.get(authorizationToken(req.headers.authorization, ['bearer', 'token']));
    const account = token && accounts.get(token.sub);
    if (!token || !account) return apiError(401, 'Bad credentials');
    const scopeHeaders = { 'x-oauth-scopes': token.scopes.join(', ') };
    if (path === PATHS.user) {
      return sendJson(
        res,
        200,
        {
          login: account.login,
          id: Number(token.sub),
          node_id: `U_${Buffer.from(token.sub).toString('base64url')}`,
          avatar_url: account.avatar_url,
          type: 'User',
          name: account.name,
          email: account.public_email,
        },
        { ...scopeHeaders, 'x-accepted-oauth-scopes': '' },
      );
    }
    if (!token.scopes.includes('user:email') && !token.scopes.includes('user')) return apiError(404, 'Not Found');
    const emails = account.emails.map((email) => ({
      email: email.email,
      primary: email.primary,
      verified: email.verified,
      visibility: visibilityOf(email, account),
    }));
    sendJson(res, 200, emails, { ...scopeHeaders, 'x-accepted-oauth-scopes': 'user, user:email' });
  }

  const server = await startHttpServer(async (req, res) => {
    const record = await receive(req, origin, requests);
    switch (`${record.method} ${record.path}`) {
      case `GET ${PATHS.authorize}`:
        return authorizeEndpoint(res, record.query);
      case `POST ${PATHS.authorize}`:
        return decisionEndpoint(res, record.body);
      case `POST ${PATHS.token}`:
        return tokenEndpoint(req, res, { ...record.query, ...record.body });
      case `GET ${PATHS.user}`:
      case `GET ${PATHS.emails}`:
        return apiEndpoint(req, res, record.path);
      default:
        return sendJson(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    }
  });
  origin = server.origin;

  return {
    issuer: origin,
    authorizationUrl: origin + PATHS.authorize,
    tokenUrl: origin + PATHS.token,
    userinfoUrl: origin + PATHS.user,
    emailsUrl: origin + PATHS.emails,
    requests,
    authorize: (authorizationRequestUrl, how) => browse(authorizationRequestUrl, clients, how),
    setAccount,
    set: (changes) => faults.set(changes),
    close: async () => {
      faults.abort();
      await server.close();
    },
  };
}

function errorParams(error: 'redirect_uri_mismatch' | 'access_denied', state: string | undefined) {
  return { error, error_description: ERRORS[error], error_uri: `${DOCS}#${error.replace(/_/g, '-')}`, state };
}

function visibilityOf(email: GitHubEmail, account: GitHubAccount): 'public' | 'private' | null {
  if (email.visibility !== undefined) return email.visibility;
  if (email.email === account.public_email) return 'public';
  return email.primary ? 'private' : null;
}
