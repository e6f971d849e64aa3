// Proves each OAuth test peer does what a client relies on, driven with plain fetch and jose.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';
import { s256 } from './authorization.ts';
import { type FakeOidcPeer, startFakeOidcPeer } from './fake-oidc-peer.ts';
import { type GitHubPeer, startGitHubPeer } from './github-peer.ts';
import { type OidcPeer, startOidcPeer } from './oidc-peer.ts';
import type { OAuthClient } from './types.ts';
import { startXPeer, type XPeer } from './x-peer.ts';

const CLIENT: OAuthClient = {
  client_id: 'gatehouse',
  client_secret: 'secret with spaces & symbols',
  redirect_uris: ['http://127.0.0.1:9/oauth/callback', 'http://127.0.0.1:9/other/callback'],
};
const REDIRECT = CLIENT.redirect_uris[0]!;
const ALICE = { email: 'alice@example.test', email_verified: true, name: 'Alice', picture: 'https://pics.test/a.png' };

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: s256(verifier) };
}

function random(): string {
  return randomBytes(12).toString('base64url');
}

function basic(id: string, secret: string): string {
  const encode = (part: string) => encodeURIComponent(part).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
}

interface Started {
  url: URL;
  state: string;
  nonce: string;
  verifier: string;
}

/** An authorization request as our server would build it. */
function authorizationRequest(endpoint: string, params: Record<string, string | undefined> = {}): Started {
  const { verifier, challenge } = pkce();
  const state = random();
  const nonce = random();
  const url = new URL(endpoint);
  const all: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: CLIENT.client_id,
    redirect_uri: REDIRECT,
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...params,
  };
  for (const [key, value] of Object.entries(all)) if (value !== undefined) url.searchParams.set(key, value);
  return { url, state, nonce, verifier };
}

async function post(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; contentType: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: new URLSearchParams(form),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  const contentType = response.headers.get('content-type') ?? '';
  const body = contentType.includes('json') ? JSON.parse(text) : Object.fromEntries(new URLSearchParams(text));
  return { status: response.status, body, contentType };
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: await response.json() };
}

function codeOf(callback: URL, state: string): string {
  assert.equal(callback.origin + callback.pathname, REDIRECT);
  assert.equal(callback.searchParams.get('state'), state);
  assert.equal(callback.searchParams.get('error'), null, `error: ${callback.searchParams.get('error_description')}`);
  const code = callback.searchParams.get('code');
  assert.ok(code, 'a code');
  return code;
}

describe('startOidcPeer (oidc-provider)', () => {
  let peer: OidcPeer;
  let discovery: Record<string, unknown>;
  before(async () => {
    peer = await startOidcPeer({ clients: [CLIENT], accounts: { 'alice-sub': ALICE } });
    discovery = (await getJson(`${peer.issuer}/.well-known/openid-configuration`)).body as Record<string, unknown>;
  });
  after(() => peer.close());

  const exchange = (code: string, verifier: string, auth: 'basic' | 'post' = 'basic') =>
    post(
      String(discovery.token_endpoint),
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        ...(auth === 'post' ? { client_id: CLIENT.client_id, client_secret: CLIENT.client_secret } : {}),
      },
      auth === 'basic' ? { authorization: basic(CLIENT.client_id, CLIENT.client_secret) } : {},
    );

  async function signIn(as = 'alice-sub'): Promise<Started & { code: string }> {
    const started = authorizationRequest(String(discovery.authorization_endpoint));
    const callback = await peer.authorize(started.url, { as });
    return { ...started, code: codeOf(callback, started.state) };
  }

  test('discovery names the issuer, its endpoints, S256 only and both secret client auth methods', () => {
    assert.match(peer.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(discovery.issuer, peer.issuer);
    assert.equal(discovery.authorization_endpoint, peer.authorizationUrl);
    assert.equal(discovery.token_endpoint, peer.tokenUrl);
    assert.equal(discovery.userinfo_endpoint, peer.userinfoUrl);
    assert.equal(discovery.jwks_uri, peer.jwksUrl);
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(discovery.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post']);
    for (const scope of ['openid', 'email', 'profile'])
      assert.ok((discovery.scopes_supported as string[]).includes(scope));
  });

  test('code flow: PKCE + nonce + state, ID token verifies against the discovered JWKS, userinfo answers', async () => {
    const { code, nonce, verifier } = await signIn();
    const token = await exchange(code, verifier);
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.equal(token.body.token_type, 'Bearer');
    const jwks = createRemoteJWKSet(new URL(String(discovery.jwks_uri)));
    const { payload, protectedHeader } = await jwtVerify(String(token.body.id_token), jwks, {
      issuer: peer.issuer,
      audience: CLIENT.client_id,
    });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.sub, 'alice-sub');
    assert.equal(payload.nonce, nonce);
    assert.equal(payload.email, ALICE.email);
    assert.equal(payload.email_verified, true);
    assert.equal(payload.name, ALICE.name);
    assert.equal(payload.picture, ALICE.picture);
    const userinfo = await getJson(peer.userinfoUrl, { authorization: `Bearer ${token.body.access_token}` });
    assert.equal(userinfo.status, 200);
    assert.deepEqual(userinfo.body, { sub: 'alice-sub', ...ALICE });
    const recorded = peer.requests.filter((request) => request.path === '/token').at(-1);
    assert.equal(recorded?.method, 'POST');
    assert.equal(recorded?.body.code_verifier, verifier);
    assert.match(recorded?.headers.authorization ?? '', /^Basic /);
  });

  test('client_secret_post is accepted too; a wrong secret is not', async () => {
    const first = await signIn();
    assert.equal((await exchange(first.code, first.verifier, 'post')).status, 200);
    const second = await signIn();
    const wrong = await post(peer.tokenUrl, {
      grant_type: 'authorization_code',
      code: second.code,
      redirect_uri: REDIRECT,
      code_verifier: second.verifier,
      client_id: CLIENT.client_id,
      client_secret: 'nope',
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
  });

  test('a wrong code_verifier is refused', async () => {
    const { code } = await signIn();
    const token = await exchange(code, pkce().verifier);
    assert.equal(token.status, 400);
    assert.equal(token.body.error, 'invalid_grant');
  });

  test('a code is single use', async () => {
    const { code, verifier } = await signIn();
    assert.equal((await exchange(code, verifier)).status, 200);
    const again = await exchange(code, verifier);
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
  });

  test('deny redirects back with error=access_denied and the state', async () => {
    const { url, state } = authorizationRequest(peer.authorizationUrl);
    const callback = await peer.authorize(url, { deny: true });
    assert.equal(callback.origin + callback.pathname, REDIRECT);
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('code'), null);
  });

  test('PKCE is required, with S256 only', async () => {
    for (const params of [
      { code_challenge: undefined, code_challenge_method: undefined },
      { code_challenge_method: 'plain' },
    ]) {
      const { url, state } = authorizationRequest(peer.authorizationUrl, params);
      const callback = await peer.authorize(url, { as: 'alice-sub' });
      assert.equal(callback.searchParams.get('error'), 'invalid_request', JSON.stringify(params));
      assert.equal(callback.searchParams.get('state'), state);
    }
  });

  test('an account changed at the provider shows in the next ID token; an unknown one cannot sign in', async () => {
    peer.setAccount('bob-sub', { email: 'bob@old.test', email_verified: true });
    peer.setAccount('bob-sub', { email: 'bob@new.test', email_verified: false });
    const { code, verifier } = await signIn('bob-sub');
    const token = await exchange(code, verifier);
    const jwks = createRemoteJWKSet(new URL(peer.jwksUrl));
    const { payload } = await jwtVerify(String(token.body.id_token), jwks, {
      issuer: peer.issuer,
      audience: CLIENT.client_id,
    });
    assert.equal(payload.email, 'bob@new.test');
    assert.equal(payload.email_verified, false);
    const { url } = authorizationRequest(peer.authorizationUrl);
    await assert.rejects(peer.authorize(url, { as: 'nobody' }), /no account nobody/);
  });

  test('an unregistered redirect_uri is an error page, not a redirect', async () => {
    const { url } = authorizationRequest(peer.authorizationUrl, { redirect_uri: 'http://127.0.0.1:9/evil' });
    await assert.rejects(peer.authorize(url, { as: 'alice-sub' }), /redirect_uri/);
  });
});

describe('startFakeOidcPeer', () => {
  let peer: FakeOidcPeer;
  before(async () => {
    peer = await startFakeOidcPeer({ clients: [CLIENT], accounts: { 'alice-sub': ALICE } });
  });
  after(() => peer.close());

  async function tokens(auth: 'basic' | 'post' = 'basic') {
    const started = authorizationRequest(peer.authorizationUrl);
    const code = codeOf(await peer.authorize(started.url, { as: 'alice-sub' }), started.state);
    const form: Record<string, string> = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: started.verifier,
    };
    const response =
      auth === 'basic'
        ? await post(peer.tokenUrl, form, { authorization: basic(CLIENT.client_id, CLIENT.client_secret) })
        : await post(peer.tokenUrl, { ...form, client_id: CLIENT.client_id, client_secret: CLIENT.client_secret });
    return { ...started, code, form, response };
  }

  const verify = (idToken: unknown) =>
    jwtVerify(String(idToken), createRemoteJWKSet(new URL(peer.jwksUrl)), {
      issuer: peer.issuer,
      audience: CLIENT.client_id,
      clockTolerance: 30,
    });

  test('discovery, and a good ID token when nothing is tampered', async () => {
    const discovery = (await getJson(`${peer.issuer}/.well-known/openid-configuration`)).body as Record<
      string,
      unknown
    >;
    assert.equal(discovery.issuer, peer.issuer);
    assert.equal(discovery.jwks_uri, peer.jwksUrl);
    assert.equal(discovery.token_endpoint, peer.tokenUrl);
    const { response, nonce } = await tokens();
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.token_type, 'Bearer');
    assert.equal(response.body.scope, 'openid email profile');
    assert.equal(typeof response.body.expires_in, 'number');
    const { payload } = await verify(response.body.id_token);
    assert.equal(payload.nonce, nonce);
    assert.equal(payload.email, ALICE.email);
    assert.equal(payload.email_verified, true);
    const userinfo = await getJson(peer.userinfoUrl, { authorization: `Bearer ${response.body.access_token}` });
    assert.deepEqual(userinfo.body, { sub: 'alice-sub', ...ALICE });
    assert.equal((await getJson(peer.userinfoUrl, { authorization: 'Bearer nope' })).status, 401);
  });

  test('client_secret_post works; bad client credentials are 401 invalid_client', async () => {
    assert.equal((await tokens('post')).response.status, 200);
    const started = authorizationRequest(peer.authorizationUrl);
    const code = codeOf(await peer.authorize(started.url, { as: 'alice-sub' }), started.state);
    const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: started.verifier };
    const wrong = await post(peer.tokenUrl, form, { authorization: basic(CLIENT.client_id, 'nope') });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
  });

  test('each tamper mode spoils the ID token in exactly that way', async () => {
    const cases: Array<
      [NonNullable<Parameters<FakeOidcPeer['set']>[0]['tamper']>, (token: unknown, nonce: string) => Promise<void>]
    > = [
      ['signature', (token) => assert.rejects(verify(token), errors.JWSSignatureVerificationFailed)],
      [
        'nonce',
        async (token, nonce) => {
          const { payload } = await verify(token);
          assert.notEqual(payload.nonce, nonce);
        },
      ],
      ['audience', (token) => assert.rejects(verify(token), claimFailure('aud'))],
      ['issuer', (token) => assert.rejects(verify(token), claimFailure('iss'))],
      ['expired', (token) => assert.rejects(verify(token), errors.JWTExpired)],
    ];
    try {
      for (const [tamper, check] of cases) {
        peer.set({ tamper });
        const { response, nonce } = await tokens();
        assert.equal(response.status, 200);
        await check(response.body.id_token, nonce);
        // Only that defect: with the one check relaxed, the token is otherwise right.
        const payload = await relaxed(String(response.body.id_token), tamper);
        assert.equal(payload.sub, 'alice-sub', tamper);
        if (tamper !== 'nonce') assert.equal(payload.nonce, nonce, tamper);
      }
    } finally {
      peer.set({ tamper: 'none' });
    }
  });

  async function relaxed(idToken: string, tamper: string): Promise<JWTPayload> {
    if (tamper === 'signature') {
      const [, body = ''] = idToken.split('.');
      const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as JWTPayload;
      assert.equal(payload.iss, peer.issuer);
      assert.equal(payload.aud, CLIENT.client_id);
      return payload;
    }
    const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(peer.jwksUrl)), {
      ...(tamper === 'issuer' ? {} : { issuer: peer.issuer }),
      ...(tamper === 'audience' ? {} : { audience: CLIENT.client_id }),
      currentDate: tamper === 'expired' ? new Date(Date.now() - 2 * 3600_000) : new Date(),
    });
    return payload;
  }

  test('a wrong code_verifier and a reused code are invalid_grant; deny is access_denied', async () => {
    const started = authorizationRequest(peer.authorizationUrl);
    const code = codeOf(await peer.authorize(started.url, { as: 'alice-sub' }), started.state);
    const auth = { authorization: basic(CLIENT.client_id, CLIENT.client_secret) };
    const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT };
    const wrong = await post(peer.tokenUrl, { ...form, code_verifier: pkce().verifier }, auth);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'invalid_grant');
    const reused = await post(peer.tokenUrl, { ...form, code_verifier: started.verifier }, auth);
    assert.equal(reused.body.error, 'invalid_grant', 'a code is gone once presented');
    const denied = authorizationRequest(peer.authorizationUrl);
    const callback = await peer.authorize(denied.url, { deny: true });
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), denied.state);
  });

  test('tokenStatus and tokenDelayMs, set after start, then cleared', async () => {
    peer.set({ tokenStatus: 503 });
    const failing = await tokens();
    assert.equal(failing.response.status, 503);
    assert.deepEqual(failing.response.body, { error: 'invalid_grant' });
    peer.set({ tokenStatus: undefined, tokenDelayMs: 300 });
    const startedAt = Date.now();
    const slow = await tokens();
    assert.equal(slow.response.status, 200);
    assert.ok(Date.now() - startedAt >= 300, 'delayed');
    peer.set({ tokenDelayMs: 0 });
  });
});

function claimFailure(claim: string) {
  return (error: unknown) => error instanceof errors.JWTClaimValidationFailed && error.claim === claim;
}

describe('startGitHubPeer', () => {
  let peer: GitHubPeer;
  before(async () => {
    peer = await startGitHubPeer({
      clients: [CLIENT],
      accounts: {
        '583231': {
          login: 'octocat',
          name: 'The Octocat',
          avatar_url: 'https://avatars.test/583231',
          public_email: null,
          emails: [
            { email: 'octocat@private.test', primary: true, verified: true },
            { email: 'old@octo.test', primary: false, verified: false },
          ],
        },
      },
    });
  });
  after(() => peer.close());

  function request(params: Record<string, string | undefined> = {}) {
    return authorizationRequest(peer.authorizationUrl, {
      response_type: undefined,
      nonce: undefined,
      scope: 'read:user user:email',
      ...params,
    });
  }

  async function signIn(params: Record<string, string | undefined> = {}) {
    const started = request(params);
    return { ...started, code: codeOf(await peer.authorize(started.url, { as: '583231' }), started.state) };
  }

  const exchange = (form: Record<string, string>, accept = 'application/json') =>
    post(peer.tokenUrl, { client_id: CLIENT.client_id, client_secret: CLIENT.client_secret, ...form }, { accept });

  test('the whole dance with PKCE: token JSON, /user (email hidden), /user/emails', async () => {
    const { code, verifier } = await signIn();
    const token = await exchange({ code, redirect_uri: REDIRECT, code_verifier: verifier });
    assert.equal(token.status, 200);
    assert.equal(token.body.token_type, 'bearer');
    assert.equal(token.body.scope, 'read:user,user:email');
    const accessToken = String(token.body.access_token);
    const user = await getJson(peer.userinfoUrl, { authorization: `Bearer ${accessToken}` });
    assert.deepEqual(
      { ...(user.body as Record<string, unknown>), node_id: undefined },
      {
        login: 'octocat',
        id: 583231,
        node_id: undefined,
        avatar_url: 'https://avatars.test/583231',
        type: 'User',
        name: 'The Octocat',
        email: null,
      },
    );
    const emails = await getJson(peer.emailsUrl, { authorization: `token ${accessToken}` });
    assert.equal(emails.status, 200);
    assert.deepEqual(emails.body, [
      { email: 'octocat@private.test', primary: true, verified: true, visibility: 'private' },
      { email: 'old@octo.test', primary: false, verified: false, visibility: null },
    ]);
    const recorded = peer.requests.find((entry) => entry.path === '/login/oauth/access_token');
    assert.equal(recorded?.body.code_verifier, verifier);
  });

  test('errors come with HTTP 200: bad code, reused code, wrong code_verifier, wrong secret', async () => {
    const bad = await exchange({ code: 'nope' });
    assert.equal(bad.status, 200);
    assert.equal(bad.body.error, 'bad_verification_code');
    assert.equal(typeof bad.body.error_description, 'string');
    const first = await signIn();
    assert.equal(
      (await exchange({ code: first.code, code_verifier: pkce().verifier })).body.error,
      'bad_verification_code',
    );
    assert.equal(
      (await exchange({ code: first.code, code_verifier: first.verifier })).body.error,
      'bad_verification_code',
    );
    const second = await signIn();
    const wrong = await exchange({ code: second.code, code_verifier: second.verifier, client_secret: 'nope' });
    assert.equal(wrong.status, 200);
    assert.equal(wrong.body.error, 'incorrect_client_credentials');
  });

  test('without Accept: application/json the token answer is a form; JSON bodies are accepted', async () => {
    const { code, verifier } = await signIn();
    const form = await exchange({ code, code_verifier: verifier }, '*/*');
    assert.match(form.contentType, /x-www-form-urlencoded/);
    assert.equal(form.body.token_type, 'bearer');
    const next = await signIn();
    const response = await fetch(peer.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ ...CLIENT, redirect_uris: undefined, code: next.code, code_verifier: next.verifier }),
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(((await response.json()) as Record<string, unknown>).token_type, 'bearer');
  });

  test('/user/emails needs scope user:email; the public email shows on /user', async () => {
    peer.setAccount('583231', {
      login: 'octocat',
      name: null,
      avatar_url: 'https://avatars.test/583231',
      public_email: 'octo@public.test',
      emails: [{ email: 'octo@public.test', primary: true, verified: true }],
    });
    const { code, verifier } = await signIn({ scope: 'read:user' });
    const token = await exchange({ code, code_verifier: verifier });
    const authorization = `Bearer ${token.body.access_token}`;
    assert.equal(
      ((await getJson(peer.userinfoUrl, { authorization })).body as Record<string, unknown>).email,
      'octo@public.test',
    );
    assert.equal((await getJson(peer.emailsUrl, { authorization })).status, 404);
    assert.equal((await getJson(peer.userinfoUrl, { authorization: 'Bearer nope' })).status, 401);
  });

  test('deny and an unregistered redirect_uri come back to the callback with GitHub errors', async () => {
    const denied = request();
    const callback = await peer.authorize(denied.url, { deny: true });
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), denied.state);
    assert.ok(callback.searchParams.get('error_description'));
    const mismatch = request({ redirect_uri: 'http://127.0.0.1:9/evil' });
    const back = await peer.authorize(mismatch.url, { as: '583231' });
    assert.equal(back.origin + back.pathname, REDIRECT);
    assert.equal(back.searchParams.get('error'), 'redirect_uri_mismatch');
  });

  test('tokenStatus and tokenDelayMs', async () => {
    peer.set({ tokenStatus: 502 });
    const { code, verifier } = await signIn();
    const failing = await exchange({ code, code_verifier: verifier });
    assert.equal(failing.status, 502);
    assert.equal(failing.body.error, 'bad_verification_code');
    peer.set({ tokenStatus: undefined, tokenDelayMs: 200 });
    const startedAt = Date.now();
    const again = await signIn();
    assert.equal((await exchange({ code: again.code, code_verifier: again.verifier })).status, 200);
    assert.ok(Date.now() - startedAt >= 200);
    peer.set({ tokenDelayMs: 0 });
  });
});

describe('startXPeer', () => {
  let peer: XPeer;
  before(async () => {
    peer = await startXPeer({
      clients: [CLIENT],
      accounts: {
        '2244994945': { name: 'X Dev', username: 'XDevelopers', profile_image_url: 'https://pbs.test/x.jpg' },
      },
    });
  });
  after(() => peer.close());

  function request(params: Record<string, string | undefined> = {}) {
    return authorizationRequest(peer.authorizationUrl, { nonce: undefined, scope: 'users.read tweet.read', ...params });
  }

  async function signIn(params: Record<string, string | undefined> = {}) {
    const started = request(params);
    return { ...started, code: codeOf(await peer.authorize(started.url, { as: '2244994945' }), started.state) };
  }

  const exchange = (form: Record<string, string>, authorization = basic(CLIENT.client_id, CLIENT.client_secret)) =>
    post(
      peer.tokenUrl,
      { grant_type: 'authorization_code', redirect_uri: REDIRECT, client_id: CLIENT.client_id, ...form },
      authorization ? { authorization } : {},
    );

  test('the whole dance: PKCE, HTTP Basic at the token endpoint, /2/users/me (no email)', async () => {
    const { code, verifier } = await signIn();
    const token = await exchange({ code, code_verifier: verifier });
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.equal(token.body.token_type, 'bearer');
    assert.equal(token.body.scope, 'users.read tweet.read');
    assert.equal(token.body.expires_in, 7200);
    const authorization = `Bearer ${token.body.access_token}`;
    const me = await getJson(`${peer.userinfoUrl}?user.fields=profile_image_url`, { authorization });
    assert.deepEqual(me.body, {
      data: { id: '2244994945', name: 'X Dev', username: 'XDevelopers', profile_image_url: 'https://pbs.test/x.jpg' },
    });
    assert.deepEqual(await getJson(peer.userinfoUrl, { authorization }).then((r) => r.body), {
      data: { id: '2244994945', name: 'X Dev', username: 'XDevelopers' },
    });
    const recorded = peer.requests.find((entry) => entry.path === '/2/oauth2/token');
    assert.equal(recorded?.headers.authorization, basic(CLIENT.client_id, CLIENT.client_secret));
    assert.equal(recorded?.body.code_verifier, verifier);
  });

  test('the token endpoint wants Basic auth, the right code_verifier, a fresh code', async () => {
    const { code, verifier } = await signIn();
    const noBasic = await exchange({ code, code_verifier: verifier }, '');
    assert.equal(noBasic.status, 401);
    assert.equal(noBasic.body.error, 'unauthorized_client');
    const next = await signIn();
    const wrong = await exchange({ code: next.code, code_verifier: pkce().verifier });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'invalid_request');
    const reused = await exchange({ code: next.code, code_verifier: next.verifier });
    assert.equal(reused.status, 400);
  });

  test('PKCE S256 is required at authorize; deny is access_denied', async () => {
    for (const params of [{ code_challenge: undefined }, { code_challenge_method: 'plain' }]) {
      const started = request(params);
      const callback = await peer.authorize(started.url, { as: '2244994945' });
      assert.equal(callback.searchParams.get('error'), 'invalid_request');
      assert.equal(callback.searchParams.get('state'), started.state);
    }
    const denied = request();
    const callback = await peer.authorize(denied.url, { deny: true });
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), denied.state);
  });

  test('/2/users/me needs users.read; tokenStatus answers X error JSON', async () => {
    const { code, verifier } = await signIn({ scope: 'tweet.read' });
    const token = await exchange({ code, code_verifier: verifier });
    assert.equal((await getJson(peer.userinfoUrl, { authorization: `Bearer ${token.body.access_token}` })).status, 403);
    assert.equal((await getJson(peer.userinfoUrl)).status, 401);
    peer.set({ tokenStatus: 400 });
    const next = await signIn();
    const failing = await exchange({ code: next.code, code_verifier: next.verifier });
    peer.set({ tokenStatus: undefined });
    assert.equal(failing.status, 400);
    assert.equal(failing.body.error, 'invalid_request');
  });
});
