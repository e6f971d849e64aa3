import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { createUser, fromPublic } from '@nats-io/nkeys';
import type { Auth } from '@nats-io/transport-node';
import { loadConfig } from '../config.ts';
import { redisOptions } from '../redis.ts';
import { natsConnectionOptions, natsSecurity } from './nats-options.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nats-options-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const text = new TextDecoder();
const newSeed = () => text.decode(createUser().getSeed());
const auth = (options: ReturnType<typeof natsConnectionOptions>, nonce = 'nonce'): Auth => {
  const { authenticator } = options;
  assert.ok(typeof authenticator === 'function', 'an authenticator');
  return authenticator(nonce);
};

describe('natsConnectionOptions', () => {
  test('no credentials: the servers without scheme, the service name and its inbox prefix, no TLS', () => {
    const options = natsConnectionOptions('nats://nats:4222, nats://nats-2', 'session');
    assert.deepEqual(options.servers, ['nats:4222', 'nats-2:4222']);
    assert.equal(options.name, 'session');
    assert.equal(options.inboxPrefix, '_INBOX.session');
    assert.equal(options.authenticator, undefined);
    assert.equal(options.tls, undefined);
  });

  test('user and password from the URL (percent-decoded), stripped from the servers', () => {
    const options = natsConnectionOptions('nats://gate%40way:p%3Ass@10.0.0.1:4333', 'gateway');
    assert.deepEqual(options.servers, ['10.0.0.1:4333']);
    assert.deepEqual(auth(options), { user: 'gate@way', pass: 'p:ss' });
  });

  test('a token from the URL (nats://token@host)', () => {
    assert.deepEqual(auth(natsConnectionOptions('nats://s3cr3t@nats:4222', 'mfa')), { auth_token: 's3cr3t' });
  });

  test('servers with different credentials are refused', () => {
    assert.throws(() => natsConnectionOptions('nats://a:b@n1:4222,nats://a:c@n2:4222', 'mfa'), /same credentials/);
  });

  test('an nkey seed, given as itself or as a file (also among comment lines), signs the nonce', () => {
    const pair = createUser();
    const seed = text.decode(pair.getSeed());
    const file = join(dir, 'user.nk');
    writeFileSync(file, `# gatehouse gateway\n${seed}\n`);
    for (const nkey of [seed, file]) {
      const a = auth(natsConnectionOptions('nats://nats:4222', 'gateway', { nkey }), 'n0nce') as {
        nkey: string;
        sig: string;
      };
      assert.equal(a.nkey, pair.getPublicKey());
      const sig = Buffer.from(a.sig, 'base64url');
      assert.ok(fromPublic(a.nkey).verify(new TextEncoder().encode('n0nce'), sig), 'the signature verifies');
    }
  });

  test('a corrupt seed or a file without one stops the start, without printing the seed', () => {
    const seed = newSeed();
    const corrupt = `${seed.slice(0, -4)}AAAA`;
    assert.throws(
      () => natsConnectionOptions('nats://nats:4222', 'gateway', { nkey: corrupt }),
      (err: Error) => /NATS_NKEY is not a valid nkey user seed/.test(err.message) && !err.message.includes(corrupt),
    );
    const empty = join(dir, 'empty.nk');
    writeFileSync(empty, 'nothing here\n');
    assert.throws(
      () => natsConnectionOptions('nats://nats:4222', 'gateway', { nkey: empty }),
      /holds no nkey user seed/,
    );
    assert.throws(
      () => natsConnectionOptions('nats://nats:4222', 'gateway', { nkey: join(dir, 'missing.nk') }),
      /neither an nkey user seed .* nor a readable file/,
    );
  });

  test('a .creds file: the JWT and a signature by its seed', () => {
    const pair = createUser();
    const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2ln';
    const creds = join(dir, 'user.creds');
    writeFileSync(
      creds,
      `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
        `-----BEGIN USER NKEY SEED-----\n${text.decode(pair.getSeed())}\n------END USER NKEY SEED------\n`,
    );
    const a = auth(natsConnectionOptions('nats://nats:4222', 'mailer', { creds })) as { jwt: string; nkey: string };
    assert.equal(a.jwt, jwt);
    assert.equal(a.nkey, pair.getPublicKey());
    const broken = join(dir, 'broken.creds');
    writeFileSync(broken, 'not creds');
    assert.throws(() => natsConnectionOptions('nats://nats:4222', 'mailer', { creds: broken }), /NATS_CREDS/);
  });

  test('one way to authenticate only', () => {
    const nkey = newSeed();
    assert.throws(() => natsConnectionOptions('nats://u:p@nats:4222', 'gateway', { nkey }), /one way to authenticate/);
    assert.throws(
      () => natsConnectionOptions('nats://nats:4222', 'gateway', { nkey, creds: '/x.creds' }),
      /one way to authenticate/,
    );
  });

  test('TLS: required by a tls:// URL or a CA or client certificate; files checked at once', () => {
    assert.deepEqual(natsConnectionOptions('tls://nats:4222', 'identity').tls, {});
    const ca = join(dir, 'ca.pem');
    const cert = join(dir, 'client.pem');
    const key = join(dir, 'client.key');
    for (const f of [ca, cert, key]) writeFileSync(f, 'pem');
    assert.deepEqual(natsConnectionOptions('nats://nats:4222', 'identity', { tlsCa: ca }).tls, { caFile: ca });
    assert.deepEqual(natsConnectionOptions('nats://nats:4222', 'identity', { tlsCert: cert, tlsKey: key }).tls, {
      certFile: cert,
      keyFile: key,
    });
    assert.throws(() => natsConnectionOptions('tls://nats', 'identity', { tlsCa: join(dir, 'no.pem') }), /NATS_TLS_CA/);
    assert.throws(() => natsConnectionOptions('tls://nats', 'identity', { tlsCert: cert }), /go together/);
  });

  test('other schemes are refused, and the error does not show the password', () => {
    assert.throws(() => natsConnectionOptions('ws://nats:8080', 'gateway'), /ws:\/\/ is not supported/);
    assert.throws(
      () => natsConnectionOptions('nats://user:hunter2@', 'gateway'),
      (err: Error) => !err.message.includes('hunter2'),
    );
  });
});

describe('the NATS and Redis settings in loadConfig', () => {
  test('file settings resolve to absolute paths; a seed stays as given', () => {
    const seed = newSeed();
    const config = loadConfig({
      NATS_NKEY: 'keys/gateway.nk',
      NATS_TLS_CA: 'ca.pem',
      NATS_TLS_CERT: 'c.pem',
      NATS_TLS_KEY: 'c.key',
      REDIS_TLS_CA: 'redis-ca.pem',
    });
    assert.equal(config.natsNkey, resolve('keys/gateway.nk'));
    assert.equal(config.natsTlsCa, resolve('ca.pem'));
    assert.equal(config.natsTlsCert, resolve('c.pem'));
    assert.equal(config.natsTlsKey, resolve('c.key'));
    assert.equal(config.redisTlsCa, resolve('redis-ca.pem'));
    assert.equal(loadConfig({ NATS_NKEY: seed }).natsNkey, seed);
    assert.equal(natsSecurity(loadConfig({ NATS_CREDS: 'a.creds' })).creds, resolve('a.creds'));
    const none = loadConfig({});
    assert.deepEqual(natsSecurity(none), {
      nkey: undefined,
      creds: undefined,
      tlsCa: undefined,
      tlsCert: undefined,
      tlsKey: undefined,
    });
    assert.equal(none.redisTlsCa, undefined);
  });

  test('NATS_NKEY with NATS_CREDS, or a certificate without its key, is refused', () => {
    assert.throws(() => loadConfig({ NATS_NKEY: newSeed(), NATS_CREDS: 'a.creds' }), /NATS_NKEY or NATS_CREDS/);
    assert.throws(() => loadConfig({ NATS_TLS_CERT: 'c.pem' }), /NATS_TLS_CERT and NATS_TLS_KEY/);
    assert.throws(() => loadConfig({ NATS_TLS_KEY: 'c.key' }), /NATS_TLS_CERT and NATS_TLS_KEY/);
  });

  test('redisOptions: nothing without REDIS_TLS_CA; with it, TLS against that CA; a missing file stops the start', () => {
    assert.deepEqual(redisOptions({ redisTlsCa: undefined }), {});
    const ca = join(dir, 'redis-ca.pem');
    writeFileSync(ca, 'PEM');
    assert.deepEqual(redisOptions({ redisTlsCa: ca }), { tls: { ca: [Buffer.from('PEM')] } });
    assert.throws(() => redisOptions({ redisTlsCa: join(dir, 'none.pem') }), /REDIS_TLS_CA/);
  });
});
