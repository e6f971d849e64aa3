import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { oauthProviders } from './oauth-config.ts';

const client = (name: string) => ({ [`OAUTH_${name}_CLIENT_ID`]: `${name}-id`, [`OAUTH_${name}_CLIENT_SECRET`]: 's' });

describe('OAUTH_* settings', () => {
  test('no variables, no providers', () => {
    assert.deepEqual(oauthProviders({ PORT: '8080' }), []);
  });

  test('google, github and twitter need only their client; their endpoints are the real ones', () => {
    const [google, github, twitter] = oauthProviders({
      ...client('TWITTER'),
      ...client('GITHUB'),
      ...client('GOOGLE'),
    });
    assert.deepEqual(
      [google?.id, github?.id, twitter?.id],
      ['google', 'github', 'twitter'],
      'built-in first, in a stable order',
    );
    assert.equal(google?.kind, 'oidc');
    assert.equal(google?.issuer, 'https://accounts.google.com');
    assert.equal(github?.kind, 'github');
    assert.equal(github?.emailsUrl, 'https://api.github.com/user/emails');
    assert.ok(github?.scopes.includes('user:email'));
    assert.equal(twitter?.kind, 'twitter');
    assert.equal(twitter?.name, 'X');
    assert.equal(twitter?.clientId, 'TWITTER-id');
  });

  test('any other name with an issuer is a generic OpenID Connect provider, openid always among its scopes', () => {
    const [idp] = oauthProviders({
      ...client('CORP_SSO'),
      OAUTH_CORP_SSO_ISSUER: 'https://sso.corp.example/realms/main/',
      OAUTH_CORP_SSO_SCOPES: 'email profile',
    });
    assert.equal(idp?.id, 'corp_sso');
    assert.equal(idp?.kind, 'oidc');
    assert.equal(idp?.issuer, 'https://sso.corp.example/realms/main');
    assert.deepEqual(idp?.scopes, ['openid', 'email', 'profile']);
  });

  test('every endpoint can be overridden, plain http only on a loopback host', () => {
    const [github] = oauthProviders({
      ...client('GITHUB'),
      OAUTH_GITHUB_AUTHORIZATION_URL: 'http://127.0.0.1:9000/login/oauth/authorize',
      OAUTH_GITHUB_TOKEN_URL: 'http://localhost:9000/login/oauth/access_token',
      OAUTH_GITHUB_USERINFO_URL: 'http://[::1]:9000/user',
      OAUTH_GITHUB_EMAILS_URL: 'https://ghe.corp.example/api/v3/user/emails',
    });
    assert.equal(github?.authorizationUrl, 'http://127.0.0.1:9000/login/oauth/authorize');
    assert.equal(github?.userinfoUrl, 'http://[::1]:9000/user');
    assert.equal(github?.emailsUrl, 'https://ghe.corp.example/api/v3/user/emails');
    assert.throws(
      () => oauthProviders({ ...client('GITHUB'), OAUTH_GITHUB_TOKEN_URL: 'http://github.example/token' }),
      /https URL \(plain http only on a loopback host\)/,
    );
    assert.throws(
      () => oauthProviders({ ...client('KC'), OAUTH_KC_ISSUER: 'http://127.0.0.1.evil.example/' }),
      /loopback/,
    );
  });

  test('half a configuration is refused at start, not at the first sign-in', () => {
    assert.throws(() => oauthProviders({ OAUTH_GOOGLE_CLIENT_ID: 'x' }), /CLIENT_SECRET are both needed/);
    assert.throws(() => oauthProviders(client('OKTA')), /OAUTH_OKTA_ISSUER is needed/);
    assert.throws(
      () => oauthProviders({ ...client('GITHUB'), OAUTH_GITHUB_ISSUER: 'https://github.com' }),
      /not an OpenID Connect provider/,
    );
    assert.throws(
      () => oauthProviders({ ...client('GOOGLE'), OAUTH_GOOGLE_EMAILS_URL: 'https://x.test' }),
      /github only/,
    );
  });
});

describe('OAUTH_TIMEOUT_MS', () => {
  test('defaults inside the bus timeout, so a slow provider still ends in a redirect', async () => {
    const { loadConfig } = await import('./config.ts');
    assert.equal(loadConfig({}).oauthTimeoutMs, 2500);
    assert.equal(loadConfig({ BUS_TIMEOUT_MS: '10000' }).oauthTimeoutMs, 3000);
    assert.equal(loadConfig({ BUS_TIMEOUT_MS: '2000' }).oauthTimeoutMs, 1000);
    assert.equal(loadConfig({ BUS_TIMEOUT_MS: '2000', OAUTH_TIMEOUT_MS: '1500' }).oauthTimeoutMs, 1500);
    assert.throws(
      () => loadConfig({ BUS_TIMEOUT_MS: '2000', OAUTH_TIMEOUT_MS: '2000' }),
      /OAUTH_TIMEOUT_MS \(2000\) must be below BUS_TIMEOUT_MS/,
    );
  });
});
