/**
 * The social sign-in providers, from the `OAUTH_*` variables of the
 * configuration contract: `OAUTH_<NAME>_CLIENT_ID` and `_CLIENT_SECRET`
 * enable `google`, `github` or `twitter` (X); with `OAUTH_<NAME>_ISSUER` they
 * make any other name a generic OpenID Connect provider, found by discovery.
 * `_AUTHORIZATION_URL`, `_TOKEN_URL`, `_USERINFO_URL`, `_JWKS_URL` (and
 * `OAUTH_GITHUB_EMAILS_URL`) override an endpoint; `_SCOPES` the scopes.
 */

/** How a provider is spoken to: OpenID Connect, or one of the two OAuth 2.0 dialects with a profile API. */
export type OAuthProviderKind = 'oidc' | 'github' | 'twitter';

export interface OAuthProviderSettings {
  /** The provider's name in URLs and in the providers list: `google`, `github`, `twitter`, or the lower-case NAME. */
  id: string;
  /** For a sign-in button. */
  name: string;
  kind: OAuthProviderKind;
  clientId: string;
  clientSecret: string;
  /** OpenID Connect: the issuer, whose discovery document names the endpoints not overridden below. */
  issuer?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  userinfoUrl?: string;
  /** OpenID Connect: the key set that signs ID tokens. */
  jwksUrl?: string;
  /** GitHub: the emails API (the verified primary address, even when the profile hides it). */
  emailsUrl?: string;
  scopes: string[];
}

type Env = Record<string, string | undefined>;

const SUFFIXES = [
  'CLIENT_ID',
  'CLIENT_SECRET',
  'ISSUER',
  'AUTHORIZATION_URL',
  'TOKEN_URL',
  'USERINFO_URL',
  'JWKS_URL',
  'EMAILS_URL',
  'SCOPES',
] as const;
type Suffix = (typeof SUFFIXES)[number];

/** What the three named providers are when only their client is configured. */
const BUILT_IN: Record<string, Omit<OAuthProviderSettings, 'id' | 'clientId' | 'clientSecret'>> = {
  google: {
    name: 'Google',
    kind: 'oidc',
    issuer: 'https://accounts.google.com',
    scopes: ['openid', 'email', 'profile'],
  },
  github: {
    name: 'GitHub',
    kind: 'github',
    authorizationUrl: 'https://github.com/login/oauth/authorize',
    tokenUrl: 'https://github.com/login/oauth/access_token',
    userinfoUrl: 'https://api.github.com/user',
    emailsUrl: 'https://api.github.com/user/emails',
    scopes: ['read:user', 'user:email'],
  },
  twitter: {
    name: 'X',
    kind: 'twitter',
    authorizationUrl: 'https://x.com/i/oauth2/authorize',
    tokenUrl: 'https://api.x.com/2/oauth2/token',
    userinfoUrl: 'https://api.x.com/2/users/me',
    // users.read needs tweet.read; X gives no email at any scope.
    scopes: ['users.read', 'tweet.read'],
  },
};

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A provider URL: https, or plain http on a loopback host only (a provider
 * running beside Gatehouse in a test or on a laptop); a token sent over plain
 * http anywhere else could be read on the way.
 */
function providerUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be an absolute URL, got "${raw}"`);
  }
  const loopback = LOOPBACK.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && loopback)) return raw.replace(/\/+$/, '');
  throw new Error(`${name} must be an https URL (plain http only on a loopback host), got "${raw}"`);
}

/** The enabled providers, in a stable order (built-in first, then by name). Throws on a half-configured one. */
export function oauthProviders(env: Env): OAuthProviderSettings[] {
  const byName = new Map<string, Partial<Record<Suffix, string>>>();
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('OAUTH_') || value === undefined || value === '') continue;
    const suffix = SUFFIXES.find((s) => key.endsWith(`_${s}`));
    if (!suffix) continue;
    const name = key.slice('OAUTH_'.length, -suffix.length - 1);
    if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`${key}: the provider name must be A-Z, 0-9 and _`);
    byName.set(name, { ...byName.get(name), [suffix]: value.trim() });
  }
  const providers: OAuthProviderSettings[] = [];
  for (const [name, vars] of byName) {
    const id = name.toLowerCase();
    const builtIn = BUILT_IN[id];
    const v = (suffix: Suffix) => vars[suffix];
    if (!v('CLIENT_ID') || !v('CLIENT_SECRET')) {
      throw new Error(`OAUTH_${name}_CLIENT_ID and OAUTH_${name}_CLIENT_SECRET are both needed to enable ${id}`);
    }
    if (!builtIn && !v('ISSUER')) {
      throw new Error(`OAUTH_${name}_ISSUER is needed: ${id} is not google, github or twitter`);
    }
    if (builtIn && builtIn.kind !== 'oidc' && v('ISSUER')) {
      throw new Error(`OAUTH_${name}_ISSUER: ${id} is not an OpenID Connect provider; override its endpoints instead`);
    }
    if (v('EMAILS_URL') && id !== 'github') throw new Error(`OAUTH_${name}_EMAILS_URL is for github only`);
    const url = (suffix: Suffix, fallback?: string) => {
      const raw = v(suffix) ?? fallback;
      return raw === undefined ? undefined : providerUrl(`OAUTH_${name}_${suffix}`, raw);
    };
    const scopes = v('SCOPES')
      ?.split(/[\s,]+/)
      .filter(Boolean);
    const settings: OAuthProviderSettings = {
      id,
      name: builtIn?.name ?? name.charAt(0) + name.slice(1).toLowerCase(),
      kind: builtIn?.kind ?? 'oidc',
      clientId: v('CLIENT_ID') as string,
      clientSecret: v('CLIENT_SECRET') as string,
      scopes: scopes?.length ? scopes : (builtIn?.scopes ?? ['openid', 'email', 'profile']),
    };
    const endpoints = {
      issuer: url('ISSUER', builtIn?.issuer),
      authorizationUrl: url('AUTHORIZATION_URL', builtIn?.authorizationUrl),
      tokenUrl: url('TOKEN_URL', builtIn?.tokenUrl),
      userinfoUrl: url('USERINFO_URL', builtIn?.userinfoUrl),
      jwksUrl: url('JWKS_URL'),
      emailsUrl: url('EMAILS_URL', builtIn?.emailsUrl),
    };
    for (const [key, value] of Object.entries(endpoints))
      if (value !== undefined) Object.assign(settings, { [key]: value });
    if (settings.kind === 'oidc' && !settings.scopes.includes('openid')) settings.scopes.unshift('openid');
    providers.push(settings);
  }
  const rank = (p: OAuthProviderSettings) => (BUILT_IN[p.id] ? Object.keys(BUILT_IN).indexOf(p.id) : 99);
  return providers.sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
}
