// A REAL OpenID Connect provider (the npm package oidc-provider) on 127.0.0.1, without a UI: `authorize()` signs in
// and consents (or denies) through a tiny JSON interaction endpoint, the way a browser would submit the forms.
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Configuration, InteractionResults, KoaContextWithOIDC, Provider } from 'oidc-provider';
import { randomId } from './authorization.ts';
import { browse, type PeerPage, parseBody, readBody, recordOf, startHttpServer } from './http.ts';
import { memoryAdapter } from './oidc-memory-adapter.ts';
import type { OAuthClient, OAuthPeer, OidcAccount, RecordedRequest } from './types.ts';

/** Options of `startOidcPeer`. */
export interface OidcPeerOptions {
  /** Registered clients; each may authenticate with client_secret_basic or client_secret_post. */
  clients: OAuthClient[];
  /** Accounts by subject id. */
  accounts?: Record<string, OidcAccount>;
}

/** The oidc-provider peer. */
export interface OidcPeer extends OAuthPeer<OidcAccount> {
  readonly jwksUrl: string;
}

type OidcProviderModule = typeof import('oidc-provider');
let loading: Promise<OidcProviderModule> | undefined;

/** Imports oidc-provider once, without its "Unsupported runtime. Use Node.js v22.x LTS" warning on Node 20. */
function loadOidcProvider(): Promise<OidcProviderModule> {
  loading ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      warn(...args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return loading;
}

/** What the interaction endpoint uses of the Koa context (`provider.use` types it without `oidc`). */
type InteractionContext = Pick<KoaContextWithOIDC, 'req' | 'res' | 'method' | 'status' | 'body' | 'redirect'>;

const ROUTES = { authorization: '/auth', token: '/token', userinfo: '/me', jwks: '/jwks' } as const;
const INTERACTION = /^\/interaction\/([^/]+)$/;

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, Array.isArray(item) ? item.join(',') : String(item)]),
  );
}

/**
 * Starts oidc-provider on 127.0.0.1 (issuer `http://127.0.0.1:PORT`): discovery, authorization code flow with PKCE
 * S256 required, nonce, RS256 ID tokens (a key generated at start), userinfo, client_secret_basic / _post,
 * scopes `openid email profile`, claims email, email_verified, name, picture (also in the ID token).
 */
export async function startOidcPeer(options: OidcPeerOptions): Promise<OidcPeer> {
  const { default: ProviderClass } = await loadOidcProvider();
  const clients = options.clients.map((client) => ({ ...client, redirect_uris: [...client.redirect_uris] }));
  const accounts = new Map(Object.entries(options.accounts ?? {}).map(([sub, account]) => [sub, { ...account }]));
  const requests: RecordedRequest[] = [];

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey: JWK = { ...(await exportJWK(privateKey)), kid: randomId(8), alg: 'RS256', use: 'sig' };

  let callback: ReturnType<Provider['callback']> | undefined;
  const server = await startHttpServer((req, res) => {
    if (!callback) throw new Error('the provider is not ready');
    return callback(req, res);
  });
  const issuer = server.origin;

  const configuration: Configuration = {
    adapter: memoryAdapter(),
    clients: clients.map((client) => ({
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: client.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'],
    scopes: ['openid', 'email', 'profile'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
    // As Google does: the scope's claims go into the ID token too, not only to userinfo.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    jwks: { keys: [signingKey] },
    findAccount: (_ctx, sub) =>
      accounts.has(sub) ? { accountId: sub, claims: () => ({ ...accounts.get(sub), sub }) } : undefined,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [randomId()] },
    ttl: { AccessToken: 3600, AuthorizationCode: 600, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
    routes: ROUTES,
    renderError: (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  };
  const started = new ProviderClass(issuer, configuration);

  /** Answers the interaction endpoint: GET shows the prompt as a {@link PeerPage}, POST submits the decision. */
  async function interaction(ctx: InteractionContext, uid: string, body: Record<string, string>): Promise<void> {
    const details = await started.interactionDetails(ctx.req, ctx.res);
    const prompt = details.prompt.name === 'login' ? 'login' : 'consent';
    if (ctx.method === 'GET') {
      const page: PeerPage = { prompt, action: `/interaction/${uid}`, fields: {} };
      ctx.body = page;
      return;
    }
    let result: InteractionResults;
    if (body.decision !== 'allow') {
      result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
    } else if (prompt === 'login') {
      const sub = body.login ?? '';
      if (!accounts.has(sub)) {
        ctx.status = 400;
        ctx.body = { error: 'login_required', error_description: `no account ${sub}` };
        return;
      }
      result = { login: { accountId: sub } };
    } else {
      const accountId = details.session?.accountId;
      const clientId = details.params.client_id;
      const grant = details.grantId
        ? await started.Grant.find(details.grantId)
        : new started.Grant({ accountId, clientId: typeof clientId === 'string' ? clientId : undefined });
      if (!grant) throw new Error(`grant ${details.grantId} not found`);
      const missing = details.prompt.details;
      const scope = stringsOf(missing.missingOIDCScope);
      if (scope.length) grant.addOIDCScope(scope.join(' '));
      const claims = stringsOf(missing.missingOIDCClaims);
      if (claims.length) grant.addOIDCClaims(claims);
      const grantId = await grant.save();
      result = { consent: details.grantId ? {} : { grantId } };
    }
    const returnTo = await started.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: prompt === 'consent' && !('error' in result),
    });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  started.use(async (ctx, next) => {
    const url = new URL(ctx.url, issuer);
    const record = recordOf(ctx.req, url, {});
    requests.push(record);
    const uid = INTERACTION.exec(url.pathname)?.[1];
    if (uid === undefined) {
      try {
        await next();
      } finally {
        // oidc-provider parses the bodies of its own routes; read what it parsed. `oidc` exists on its routes only.
        const oidc: { body?: unknown } | undefined = ctx.oidc;
        Object.assign(record.body, stringRecord(oidc?.body));
      }
      return;
    }
    ctx.set('cache-control', 'no-store');
    try {
      if (ctx.method === 'POST')
        Object.assign(record.body, parseBody(ctx.get('content-type'), await readBody(ctx.req)));
      await interaction(ctx, uid, record.body);
    } catch (error) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: String(error) };
    }
  });
  callback = started.callback();

  return {
    issuer,
    authorizationUrl: issuer + ROUTES.authorization,
    tokenUrl: issuer + ROUTES.token,
    userinfoUrl: issuer + ROUTES.userinfo,
    jwksUrl: issuer + ROUTES.jwks,
    requests,
    authorize: (authorizationRequestUrl, how) => browse(authorizationRequestUrl, clients, how),
    setAccount: (sub, account) => {
      accounts.set(sub, { ...account });
    },
    close: () => server.close(),
  };
}
