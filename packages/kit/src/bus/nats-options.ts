import { accessSync, constants, readFileSync } from 'node:fs';
import {
  type Authenticator,
  credsAuthenticator,
  type NodeConnectionOptions,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import type { Config } from '../config.ts';

/**
 * How a service proves who it is to NATS and how it checks the server, from
 * the configuration (`NATS_NKEY`, `NATS_CREDS`, `NATS_TLS_*`). Credentials in
 * the URL (`nats://user:pass@host`, `nats://token@host`) and a `tls://` URL
 * are read from the servers string itself.
 */
export interface NatsSecurity {
  /** `NATS_NKEY`: an nkey user seed (`SU...`), or the path of a file that holds one. */
  nkey?: string | undefined;
  /** `NATS_CREDS`: the path of a `.creds` file (decentralized JWT auth: user JWT and seed). */
  creds?: string | undefined;
  /** `NATS_TLS_CA`: a PEM file of the CA(s) that signed the server's certificate. */
  tlsCa?: string | undefined;
  /** `NATS_TLS_CERT` + `NATS_TLS_KEY`: a client certificate and its key, for mutual TLS. */
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
}

export type NatsConfig = Pick<Config, 'natsNkey' | 'natsCreds' | 'natsTlsCa' | 'natsTlsCert' | 'natsTlsKey'>;

/** The NATS security settings of a configuration. */
export function natsSecurity(config: NatsConfig): NatsSecurity {
  return {
    nkey: config.natsNkey,
    creds: config.natsCreds,
    tlsCa: config.natsTlsCa,
    tlsCert: config.natsTlsCert,
    tlsKey: config.natsTlsKey,
  };
}

/** An nkey user seed: `SU` and 56 more base32 characters. */
const USER_SEED = /^SU[A-Z2-7]{56}$/;

interface ParsedServer {
  hostPort: string;
  tls: boolean;
  user: string;
  pass: string;
}

function parseServer(raw: string): ParsedServer {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `nats://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`NATS_URL: "${redact(raw)}" is not a nats:// or tls:// URL`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'nats' && scheme !== 'tls') {
    throw new Error(`NATS_URL: ${scheme}:// is not supported, use nats:// or tls://`);
  }
  if (!url.hostname) throw new Error(`NATS_URL: "${redact(raw)}" has no host`);
  return {
    hostPort: `${url.hostname}:${url.port || '4222'}`,
    tls: scheme === 'tls',
    user: decodeURIComponent(url.username),
    pass: decodeURIComponent(url.password),
  };
}

/** A server URL for an error message: without its credentials. */
function redact(raw: string): string {
  return raw.replace(/\/\/[^@/]*@/, '//***@');
}

/** The seed of `NATS_NKEY`: the value itself when it is a seed, else the file it names. */
function readSeed(nkey: string): Uint8Array {
  let seed = nkey.trim();
  if (!USER_SEED.test(seed)) {
    let text: string;
    try {
      text = readFileSync(nkey, 'utf8');
    } catch (err) {
      throw new Error(`NATS_NKEY is neither an nkey user seed (SU...) nor a readable file: ${nkey}`, { cause: err });
    }
    // A seed file holds the seed alone (nk -gen user), or among comment lines.
    const found = text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .find((line) => USER_SEED.test(line));
    if (!found) throw new Error(`NATS_NKEY: ${nkey} holds no nkey user seed (a line SU...)`);
    seed = found;
  }
  return new TextEncoder().encode(seed);
}

function readable(file: string, setting: string): string {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new Error(`${setting}: cannot read ${file}`, { cause: err });
  }
  return file;
}

/**
 * The nats.js connection options for `servers` (comma separated NATS_URL):
 * one authenticator (nkey, creds file, user/password or token, at most one of
 * them), TLS when a server is `tls://` or a CA or client certificate is set,
 * and the inbox prefix `_INBOX.<service>`, so the server's permissions can
 * keep each service to its own replies. Throws, naming the setting, when a
 * credential is malformed or a file cannot be read: a service should not
 * start (and retry forever) with a key it can never use.
 */
export function natsConnectionOptions(
  servers: string,
  service: string,
  security: NatsSecurity = {},
): NodeConnectionOptions & { servers: string[] } {
  const parsed = servers
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseServer);
  if (parsed.length === 0) throw new Error('NATS_URL names no server');

  const withCredentials = parsed.filter((s) => s.user || s.pass);
  const first = withCredentials[0];
  if (withCredentials.some((s) => s.user !== first?.user || s.pass !== first?.pass)) {
    throw new Error('NATS_URL: every server must carry the same credentials');
  }
  const kinds = [security.nkey && 'NATS_NKEY', security.creds && 'NATS_CREDS', first && 'credentials in NATS_URL'];
  const set = kinds.filter(Boolean);
  if (set.length > 1) throw new Error(`NATS: use one way to authenticate, not ${set.join(' and ')}`);

  let authenticator: Authenticator | undefined;
  if (security.nkey) {
    const seed = readSeed(security.nkey);
    authenticator = nkeyAuthenticator(seed);
    try {
      authenticator('check'); // signs a nonce: fails now, not at every reconnect, on a corrupt seed
    } catch (err) {
      throw new Error('NATS_NKEY is not a valid nkey user seed', { cause: err });
    }
  } else if (security.creds) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(security.creds);
    } catch (err) {
      throw new Error(`NATS_CREDS: cannot read ${security.creds}`, { cause: err });
    }
    authenticator = credsAuthenticator(creds);
    try {
      authenticator('check');
    } catch (err) {
      throw new Error(`NATS_CREDS: ${security.creds} is not a valid .creds file`, { cause: err });
    }
  } else if (first?.pass) {
    authenticator = usernamePasswordAuthenticator(first.user, first.pass);
  } else if (first?.user) {
    authenticator = tokenAuthenticator(first.user); // nats://token@host
  }

  if (Boolean(security.tlsCert) !== Boolean(security.tlsKey)) {
    throw new Error('NATS_TLS_CERT and NATS_TLS_KEY go together');
  }
  const tlsWanted = parsed.some((s) => s.tls) || Boolean(security.tlsCa || security.tlsCert);
  // nats.js reads the files at every (re)connect, so a renewed certificate is picked up without a restart.
  const tls = tlsWanted
    ? {
        ...(security.tlsCa ? { caFile: readable(security.tlsCa, 'NATS_TLS_CA') } : {}),
        ...(security.tlsCert ? { certFile: readable(security.tlsCert, 'NATS_TLS_CERT') } : {}),
        ...(security.tlsKey ? { keyFile: readable(security.tlsKey, 'NATS_TLS_KEY') } : {}),
      }
    : undefined;

  return {
    servers: parsed.map((s) => s.hostPort),
    name: service,
    inboxPrefix: `_INBOX.${service}`,
    ...(authenticator ? { authenticator } : {}),
    ...(tls ? { tls } : {}),
  };
}
