// A local OpenID Connect provider for trying social sign-in on a laptop, with one account, `ada`.
// It is the tests' hand-made provider (packages/kit/src/testing/oauth-peers): loopback only, keys
// and accounts in memory, no real login. Never point a production Gatehouse at it.
//
//   node --import tsx infra/scripts/dev-oidc-provider.ts [--public-url http://localhost:8080] [--name local] > /tmp/idp.env
//
// Prints the variables that enable it in Gatehouse (OAUTH_<NAME>_ISSUER, _CLIENT_ID, _CLIENT_SECRET)
// as NAME=value lines, then serves until stopped. Its login page is JSON: GET the authorization
// URL for `fields.request`, then POST /authorize/decision with request=…&login=ada&decision=allow.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startFakeOidcPeer } from '@gatehouse/kit/testing';

const { values } = parseArgs({
  options: {
    'public-url': { type: 'string', default: 'http://localhost:8080' },
    name: { type: 'string', default: 'local' },
  },
});
const publicUrl = (values['public-url'] as string).replace(/\/+$/, '');
const name = (values.name as string).toLowerCase();
if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) throw new Error('--name: a-z, 0-9 and _, starting with a letter');

const client = {
  client_id: `gatehouse-${name}`,
  client_secret: randomBytes(24).toString('base64url'),
  redirect_uris: [`${publicUrl}/auth/oauth/${name}/callback`],
};
const peer = await startFakeOidcPeer({
  clients: [client],
  accounts: { ada: { email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace' } },
});
const NAME = name.toUpperCase();
process.stdout.write(
  [
    `OAUTH_${NAME}_ISSUER=${peer.issuer}`,
    `OAUTH_${NAME}_CLIENT_ID=${client.client_id}`,
    `OAUTH_${NAME}_CLIENT_SECRET=${client.client_secret}`,
    '',
  ].join('\n'),
);
process.stderr.write(`dev OpenID Connect provider at ${peer.issuer} (account: ada); Ctrl-C stops it\n`);
const stop = () => void peer.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
