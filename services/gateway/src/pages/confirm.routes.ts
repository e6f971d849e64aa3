import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';

const page = readFileSync(new URL('./confirm.page.html', import.meta.url), 'utf8');

/**
 * `GET /auth/confirm`: where emailed links lead when no `redirect_to` was
 * given. A static page: it reads `token` and `type` from its own URL and,
 * on a click (never on load: mail scanners open links), posts the token to
 * the matching API route. Nothing from the URL is written into the HTML.
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
