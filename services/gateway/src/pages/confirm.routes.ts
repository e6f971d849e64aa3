import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';

const page = readFileSync(new URL('./confirm.page.html', import.meta.url), 'utf8');

/**
 * `GET /auth/confirm`: where emailed links and social sign-in land when no
 * `redirect_to` was given. A static page that reads its own URL:
 * - `?token=&type=verify_email|reset_password|magic_link|invitation` (a
 *   mailed link): on a click (never on load: mail scanners open links) it
 *   posts the token to the matching API route (an invitation with the
 *   password and the optional name typed, in cookie mode);
 * - `?code=` (social sign-in; never mailed, 60 s, single use): traded at once
 *   with POST /auth/oauth/exchange in cookie mode, then, when the answer is
 *   the MfaChallenge, a TOTP code is asked for and sent to POST
 *   /auth/login/mfa (cookie mode too, as is a magic link's challenge). The
 *   code is taken out of the address bar (history.replaceState) on load;
 * - `?linked=<provider>`: a provider account was linked to the signed-in user;
 * - `?error=<code>`: a failed social flow, one message per
 *   OAUTH_REDIRECT_ERRORS code and a generic one for any other value.
 * Nothing from the URL is written into the HTML (text only, from the script),
 * and the script, the only one, runs under this response's CSP nonce.
 */
export const confirmRoutes: FastifyPluginAsync = async (app) => {
  app.get('/auth/confirm', { schema: { hide: true } }, async (_request, reply) => {
    const nonce = randomBytes(16).toString('base64');
    return (
      reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        // The token is in this page's URL: never send it on as a referrer.
        .header('referrer-policy', 'no-referrer')
        .header(
          'content-security-policy',
          `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'`,
        )
        .header('x-frame-options', 'DENY')
        .send(page.replace('__NONCE__', nonce))
    );
  });
};
