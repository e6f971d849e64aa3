// Password, token and TLS (server-verified and mutual) against private nats-servers configured for
// them: the credentials and TLS settings natsConnectionOptions builds are the ones a server accepts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { makeTestCertificates } from '../testing/certificates.ts';
import { PrivateNats } from '../testing/private-nats.ts';
import { NatsTransport } from './nats.ts';
import { type NatsSecurity, natsConnectionOptions } from './nats-options.ts';

const quiet = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nats-tls-'));
const servers: PrivateNats[] = [];
const transports: NatsTransport[] = [];
after(async () => {
  for (const t of transports) await t.close().catch(() => {});
  for (const s of servers) await s.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function serverWith(name: string, config: string): Promise<PrivateNats> {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, config);
  const nats = new PrivateNats({ config: file });
  servers.push(nats);
  await nats.start();
  return nats;
}

/** One connection attempt, no retries: resolves when the server accepts, rejects with its reason. */
async function attempt(url: string, security: NatsSecurity = {}): Promise<void> {
  const nc = await connect({ ...natsConnectionOptions(url, 'gateway', security), reconnect: false, timeout: 5_000 });
  await nc.flush();
  await nc.close();
}

async function transport(url: string, security: NatsSecurity = {}): Promise<NatsTransport> {
  const t = await NatsTransport.connect(url, 'gateway', quiet, security);
  transports.push(t);
  await t.ping();
  return t;
}

describe('NATS credentials in the URL', () => {
  test('user and password: accepted when right, refused when wrong or missing', async () => {
    const nats = await serverWith(
      'password',
      'authorization { users = [ { user: "gate@way", password: "p:ss w0rd" } ] }\n',
    );
    const hostPort = `127.0.0.1:${nats.port}`;
    await transport(`nats://gate%40way:p%3Ass%20w0rd@${hostPort}`);
    await assert.rejects(attempt(`nats://gate%40way:wrong@${hostPort}`), { name: 'AuthorizationError' });
    await assert.rejects(attempt(`nats://${hostPort}`), { name: 'AuthorizationError' });
  });

  test('credentials refused on a reconnect (rotated on the server) close the transport for good, and say so', async () => {
    const file = join(dir, 'rotating.conf');
    writeFileSync(file, 'authorization { users = [ { user: "svc", password: "old" } ] }\n');
    const nats = new PrivateNats({ config: file });
    servers.push(nats);
    await nats.start();
    const t = await transport(`nats://svc:old@127.0.0.1:${nats.port}`);
    const closed = new Promise<Error>((resolve) => t.onClosed(resolve));
    await nats.stop();
    writeFileSync(file, 'authorization { users = [ { user: "svc", password: "new" } ] }\n');
    await nats.start();
    let timer: NodeJS.Timeout | undefined;
    const err = await Promise.race([
      closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('still not closed after 15 s')), 15_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.match(`${err.name} ${err.message}`, /Authorization/i);
    await assert.rejects(t.ping(), (e: Error) => e.name === 'AppError');
  });

  test('a token: accepted when right, refused when wrong', async () => {
    const nats = await serverWith('token', 'authorization { token: "t0k3n" }\n');
    await transport(`nats://t0k3n@127.0.0.1:${nats.port}`);
    await assert.rejects(attempt(`nats://wrong@127.0.0.1:${nats.port}`), { name: 'AuthorizationError' });
  });
});

describe('NATS over TLS', () => {
  const certs = makeTestCertificates(dir);
  const tlsBlock = (verify: boolean) =>
    `tls {\n  cert_file: "${certs.serverCert}"\n  key_file: "${certs.serverKey}"\n  ca_file: "${certs.ca}"\n  verify: ${verify}\n}\n`;

  test('the server is checked against NATS_TLS_CA; without it (system CAs) it is not trusted', async () => {
    const nats = await serverWith('tls', tlsBlock(false));
    await transport(`tls://127.0.0.1:${nats.port}`, { tlsCa: certs.ca });
    // A nats:// URL with a CA asks for TLS too.
    await transport(`nats://127.0.0.1:${nats.port}`, { tlsCa: certs.ca });
    await assert.rejects(attempt(`tls://127.0.0.1:${nats.port}`), (err: Error) =>
      /certificate|self.signed|issuer/i.test(`${err.message} ${(err.cause as Error | undefined)?.message ?? ''}`),
    );
  });

  test('mutual TLS: a client certificate (NATS_TLS_CERT, NATS_TLS_KEY) is required and accepted', async () => {
    const nats = await serverWith('mtls', tlsBlock(true));
    const url = `tls://127.0.0.1:${nats.port}`;
    await transport(url, { tlsCa: certs.ca, tlsCert: certs.clientCert, tlsKey: certs.clientKey });
    await assert.rejects(attempt(url, { tlsCa: certs.ca }));
  });

  test('a tls:// URL to a server without TLS is refused rather than sent in the clear', async () => {
    const nats = await serverWith('plain', '# no tls\n');
    await assert.rejects(attempt(`tls://127.0.0.1:${nats.port}`), /tls/i);
  });
});
