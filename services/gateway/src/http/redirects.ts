import { AppError } from '@gatehouse/kit';

/** An allow-list entry: an origin, and the path prefix under it (`/` for a bare origin). */
export interface AllowedPrefix {
  origin: string;
  path: string;
}

/**
 * Parses REDIRECT_ALLOWLIST entries: origins (`https://app.example`) or
 * origins with a path prefix (`https://app.example/auth/`). An entry that is
 * not an absolute http(s) URL is a configuration error.
 */
export function parseAllowlist(entries: readonly string[]): AllowedPrefix[] {
  return entries.map((entry) => {
    const url = new URL(entry);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new Error(`REDIRECT_ALLOWLIST entry ${entry} is not an http(s) URL`);
    }
    return { origin: url.origin, path: url.pathname };
  });
}

/**
 * True when `target` is an absolute http(s) URL on an allowed origin, under
 * the entry's path. Origins are compared parsed, never as string prefixes, so
 * `http://app.test` admits `http://app.test/cb` but not `http://app.test.evil.example`
 * nor `http://app.test@evil.example`; credentials in the URL are refused outright.
 */
export function isAllowedRedirect(target: string, allowlist: readonly AllowedPrefix[]): boolean {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
  if (url.username !== '' || url.password !== '') return false;
  return allowlist.some(({ origin, path }) => {
    if (url.origin !== origin) return false;
    if (path === '/' || url.pathname === path) return true;
    // A prefix matches whole segments: `/auth` admits `/auth/cb`, not `/authority`.
    const prefix = path.endsWith('/') ? path : `${path}/`;
    return url.pathname.startsWith(prefix);
  });
}

/** The checked `redirect_to`, or undefined when none was given. Throws `invalid_redirect`. */
export function checkedRedirect(target: string | undefined, allowlist: readonly AllowedPrefix[]): string | undefined {
  if (target === undefined) return undefined;
  if (!isAllowedRedirect(target, allowlist)) {
    throw new AppError('invalid_redirect', 'redirect_to is not an allowed URL', {
      details: [{ field: 'redirect_to', message: 'must match REDIRECT_ALLOWLIST' }],
    });
  }
  return target;
}
