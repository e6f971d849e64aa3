import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthMode, TokenResponse } from '@gatehouse/contracts';
import { AppError, type Config } from '@gatehouse/kit';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const ACCESS_COOKIE = 'gh_access';
export const REFRESH_COOKIE = 'gh_refresh';
/** The refresh cookie is sent to the refresh endpoint only. */
const REFRESH_PATH = '/auth/refresh';
/**
 * The device cookie: a browser that signed in with its password before is a
 * known device of that account, whose failures count apart from strangers'
 * (see SignInLimits). Sent to the password sign-in only.
 */
export const DEVICE_COOKIE = 'gh_device';
const DEVICE_PATH = '/auth/login';
/**
 * The browser's social sign-in binding: a random secret the flow's state is
 * bound to, so only the browser that began a flow can finish it (a callback
 * URL planted in a victim's browser, login CSRF, finishes nothing). One per
 * browser, so flows in two tabs both work; sent to the OAuth routes only.
 */
export const OAUTH_BINDING_COOKIE = 'gh_oauth';
/**
 * The CSRF token of cookie mode (double submit): a random value in a cookie the
 * page's script can read (not HttpOnly), echoed in `X-CSRF-Token` on every
 * cookie-authenticated request that changes state. A cross-site page can make
 * the browser send the cookie but cannot read it, so it cannot echo it. Over
 * https it is `__Host-gh_csrf`: only this host, over https, may set it, so a
 * sibling subdomain cannot plant a value of its choosing.
 */
export const CSRF_COOKIE = 'gh_csrf';
export const CSRF_HEADER = 'x-csrf-token';
const CSRF_TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** The CSRF cookie's name under `config`: with the `__Host-` prefix over https. */
export const csrfCookieName = (config: Pick<Config, 'publicUrl'>): string =>
  config.publicUrl.startsWith('https:') ? `__Host-${CSRF_COOKIE}` : CSRF_COOKIE;
const OAUTH_PATH = '/auth/oauth';
const OAUTH_BINDING_TTL_SECONDS = 600;

/**
 * Answers a sign-in in the caller's mode. Cookie mode sets both tokens as
 * HttpOnly, SameSite=Lax cookies (Secure when PUBLIC_URL is https) and leaves
 * them out of the body, so page scripts never see them.
 */
export function inMode(
  reply: FastifyReply,
  config: Config,
  body: TokenResponse,
  mode: AuthMode | undefined,
  /** The request's CSRF token to keep (a refresh); a sign-in gets a new one, so none planted before it survives. */
  keepCsrf?: string,
): TokenResponse {
  if (mode !== 'cookie') return body;
  const csrf = keepCsrf !== undefined && CSRF_TOKEN.test(keepCsrf) ? keepCsrf : randomBytes(32).toString('base64url');
  setCookies(reply, config, [
    { name: ACCESS_COOKIE, value: body.access_token ?? '', path: '/', maxAge: body.expires_in },
    { name: REFRESH_COOKIE, value: body.refresh_token ?? '', path: REFRESH_PATH, maxAge: config.refreshTokenTtl },
  ]);
  setCookies(
    reply,
    config,
    [{ name: csrfCookieName(config), value: csrf, path: '/', maxAge: config.refreshTokenTtl }],
    {
      readable: true,
    },
  );
  const { access_token: _a, refresh_token: _r, ...rest } = body;
  return rest;
}

/**
 * Removes every cookie a session set (logout): the tokens, the CSRF token and
 * a social sign-in's binding. The device cookie stays: it names the browser,
 * not a session, and keeps this browser's failed passwords counted apart from
 * strangers' (see SignInLimits); it authenticates nothing.
 */
export function clearCookies(reply: FastifyReply, config: Config): void {
  setCookies(reply, config, [
    { name: ACCESS_COOKIE, value: '', path: '/', maxAge: 0 },
    { name: REFRESH_COOKIE, value: '', path: REFRESH_PATH, maxAge: 0 },
    { name: OAUTH_BINDING_COOKIE, value: '', path: OAUTH_PATH, maxAge: 0 },
  ]);
  setCookies(reply, config, [{ name: csrfCookieName(config), value: '', path: '/', maxAge: 0 }], { readable: true });
}

/**
 * Sets (or renews) the device cookie after a right password, whatever the auth
 * mode: it is only a cookie the browser keeps (HttpOnly, SameSite=Lax, Secure
 * when PUBLIC_URL is https); clients that do not keep cookies are strangers at
 * their next sign-in, as before.
 */
export function setDeviceCookie(reply: FastifyReply, config: Config, token: string, maxAgeSeconds: number): void {
  setCookies(reply, config, [{ name: DEVICE_COOKIE, value: token, path: DEVICE_PATH, maxAge: maxAgeSeconds }]);
}

/**
 * The browser's binding secret (kept, or made now), set again for the life of
 * a flow. SameSite=Lax: the provider's redirect back is a top-level GET, which
 * carries Lax cookies.
 */
export function oauthBinding(request: FastifyRequest, reply: FastifyReply, config: Config): string {
  const kept = cookieValue(request, OAUTH_BINDING_COOKIE);
  const binding = kept && /^[A-Za-z0-9_-]{43}$/.test(kept) ? kept : randomBytes(32).toString('base64url');
  setCookies(reply, config, [
    { name: OAUTH_BINDING_COOKIE, value: binding, path: OAUTH_PATH, maxAge: OAUTH_BINDING_TTL_SECONDS },
  ]);
  return binding;
}

// Written with the `cookie` package rather than @fastify/cookie, whose onSend hook
// would cost every response (the hot path included) a hook run.
function setCookies(
  reply: FastifyReply,
  config: Config,
  cookies: { name: string; value: string; path: string; maxAge: number }[],
  /** The CSRF cookie: readable by the page's script, and sent on same-site requests only. */
  options: { readable?: boolean } = {},
): void {
  const secure = config.publicUrl.startsWith('https:');
  const lines = cookies.map((c) =>
    options.readable
      ? stringifySetCookie({ ...c, httpOnly: false, sameSite: 'strict', secure })
      : stringifySetCookie({ ...c, httpOnly: true, sameSite: 'lax', secure }),
  );
  // Fastify appends to set-cookie: the cookies of every call in one reply are all sent.
  reply.header('set-cookie', lines);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * CSRF defence for cookie-authenticated requests that change state, two checks:
 * - the browser's Origin (or, failing that, Referer), when it sends one, must
 *   be PUBLIC_URL's origin or one of CORS_ORIGINS: a cross-site page is
 *   refused whatever else it sends;
 * - the double-submit token: `X-CSRF-Token`, when sent, must equal the CSRF
 *   cookie (compared in constant time).
 * The request passes with an allowed Origin or a matching token, so a browser
 * (or a privacy proxy) that sends no Origin is still protected by the token; a
 * request with neither is refused.
 */
export function checkCsrf(
  request: FastifyRequest,
  allowedOrigins: ReadonlySet<string>,
  config: Pick<Config, 'publicUrl'>,
): void {
  if (SAFE_METHODS.has(request.method)) return;
  const origin = request.headers.origin ?? originOf(request.headers.referer);
  if (origin && !allowedOrigins.has(origin)) {
    throw new AppError('forbidden', 'cross-site request refused: the Origin is not allowed');
  }
  const header = request.headers[CSRF_HEADER];
  if (header !== undefined) {
    if (!sameToken(typeof header === 'string' ? header : '', cookieValue(request, csrfCookieName(config)))) {
      throw new AppError('forbidden', 'cross-site request refused: X-CSRF-Token does not match the CSRF cookie');
    }
    return;
  }
  if (!origin) {
    throw new AppError(
      'forbidden',
      `cross-site request refused: send the ${csrfCookieName(config)} cookie's value in X-CSRF-Token`,
    );
  }
}

function sameToken(sent: string, kept: string | undefined): boolean {
  if (kept === undefined || !CSRF_TOKEN.test(kept) || !CSRF_TOKEN.test(sent)) return false;
  return timingSafeEqual(Buffer.from(sent), Buffer.from(kept));
}

function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** The origins whose pages may use cookie mode. */
export function allowedOrigins(config: Config): Set<string> {
  return new Set([new URL(config.publicUrl).origin, ...config.corsOrigins.map((o) => originOf(o) ?? o)]);
}

/** Reads one cookie of the request (cookies are not parsed eagerly: the hot path uses bearer tokens). */
export function cookieValue(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  return parseCookie(header)[name] || undefined;
}
