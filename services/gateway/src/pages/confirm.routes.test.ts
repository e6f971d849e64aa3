import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { bareGateway } from '../app.test-support.ts';

let app: FastifyInstance;
before(async () => {
  app = await bareGateway();
});
after(() => app.close());

test('the confirm page runs only its own script, and leaks the token to no one', async () => {
  const res = await app.inject({ method: 'GET', url: '/auth/confirm?token=abc&type=verify_email' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/html/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers['referrer-policy'], 'no-referrer');
  const csp = String(res.headers['content-security-policy']);
  const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
  assert.ok(nonce, csp);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  // The one script carries this response's nonce; a second response gets another.
  assert.ok(res.body.includes(`<script nonce="${nonce}">`));
  const again = await app.inject({ method: 'GET', url: '/auth/confirm' });
  assert.notEqual(/nonce-([^']+)/.exec(String(again.headers['content-security-policy']))?.[1], nonce);
  // Each flow posts to its API route.
  for (const path of [
    '/auth/email/verify',
    '/auth/password/reset',
    '/auth/magic-link/verify',
    '/auth/invitations/accept',
    '/auth/oauth/exchange',
    '/auth/login/mfa',
  ]) {
    assert.ok(res.body.includes(`'${path}'`), path);
  }
});

test('nothing from the URL is written into the page', async () => {
  const evil = encodeURIComponent('"><script>alert(1)</script>');
  const res = await app.inject({
    method: 'GET',
    url: `/auth/confirm?token=${evil}&type=${evil}&code=${evil}&linked=${evil}&error=${evil}`,
  });
  assert.equal(res.statusCode, 200);
  assert.ok(!res.body.includes('alert(1)'));
  const plain = await app.inject({ method: 'GET', url: '/auth/confirm' });
  // Byte for byte the same page but for the nonce.
  assert.equal(res.body.replace(/nonce="[^"]+"/, ''), plain.body.replace(/nonce="[^"]+"/, ''));
});
