/**
 * The headers every response carries. API answers hold tokens, TOTP secrets
 * and personal data: never stored by a browser or a proxy (`no-store`), never
 * sniffed into another type, never framed, never sent on as a referrer. HSTS
 * when the public URL is https (a browser then refuses plain http for two
 * years). `/docs` replaces the content security policy with its own.
 */
export function securityHeaders(publicUrl: string): Record<string, string> {
  return {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    'cross-origin-opener-policy': 'same-origin',
    ...(publicUrl.startsWith('https:') ? { 'strict-transport-security': 'max-age=63072000; includeSubDomains' } : {}),
  };
}
