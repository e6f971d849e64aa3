// Test support: a software WebAuthn authenticator (and the browser around it) in Node.
// It builds real responses: a 'none' attestation with a CBOR attestationObject whose
// authData carries the attested credential (a COSE EC2 P-256 key), and assertions signed
// with ES256 over authData || SHA-256(clientDataJSON), as WebAuthn Level 2 §6.3 lays out.
// Reusable from any test: feed it the options JSON a server sent, send back what it returns.
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';

/** A credential the authenticator holds. */
export interface StoredCredential {
  /** base64url credential id. */
  id: string;
  rpId: string;
  /** base64url user handle from the creation options. */
  userHandle: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The signature counter; the next assertion reports counter + 1 (or 0 with `signCount: 'none'`). */
  counter: number;
}

/** `PublicKeyCredential.toJSON()` of a registration, as a browser sends it. */
export type RegistrationCredentialJSON = {
  id: string;
  rawId: string;
  type: 'public-key';
  authenticatorAttachment: 'platform';
  clientExtensionResults: Record<string, unknown>;
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
};

/** `PublicKeyCredential.toJSON()` of an assertion, as a browser sends it. */
export type AuthenticationCredentialJSON = {
  id: string;
  rawId: string;
  type: 'public-key';
  authenticatorAttachment: 'platform';
  clientExtensionResults: Record<string, unknown>;
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle: string };
};

export interface AuthenticatorOptions {
  /** The page's origin the browser reports in clientDataJSON, e.g. `http://localhost:8080`. */
  origin: string;
  /** Whether the authenticator verifies its user (PIN, biometric): sets the UV flag. Default true. */
  userVerification?: boolean;
  /** `increment` (default): a counter that grows with each assertion; `none`: always 0, like synced passkeys. */
  signCount?: 'increment' | 'none';
}

/** Per-call departures from what an honest browser and authenticator would do, for negative tests. */
export interface Tampering {
  /** Report this origin in clientDataJSON instead. */
  origin?: string;
  /** Hash this RP ID into authData instead of the options' one. */
  rpId?: string;
  /** Sign the assertion with this key instead of the credential's. */
  signWith?: KeyObject;
  /** Report this counter instead of the next one. */
  counter?: number;
  /** Use this credential (base64url id) even if the options do not list it. */
  credentialId?: string;
  /** Override the UV flag. */
  userVerified?: boolean;
}

// Authenticator data flags (WebAuthn §6.1).
const UP = 0x01;
const UV = 0x04;
const AT = 0x40;

const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest();
const b64url = (data: Buffer): string => data.toString('base64url');

/** A minimal CBOR (RFC 8949) encoder: integers, byte and text strings, arrays, maps. */
export function cbor(value: unknown): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
    if (n < 0x10000) {
      const b = Buffer.alloc(3);
      b[0] = (major << 5) | 25;
      b.writeUInt16BE(n, 1);
      return b;
    }
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  if (value instanceof Map) {
    const parts: Buffer[] = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  throw new Error(`cbor: cannot encode ${typeof value}`);
}

/** The COSE_Key (RFC 9053) of a P-256 public key: kty EC2, alg ES256, crv P-256, x, y. */
function coseKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return cbor(
    new Map<number, unknown>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x as string, 'base64url')],
      [-3, Buffer.from(jwk.y as string, 'base64url')],
    ]),
  );
}

function authData(rpId: string, flags: number, counter: number, attested?: Buffer): Buffer {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(counter);
  return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
}

function clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin: string): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
}

/** Reads `path` of a JSON object from a server, or throws naming it. */
function field<T>(object: unknown, path: string, check: (v: unknown) => v is T): T {
  let value: unknown = object;
  for (const key of path.split('.')) {
    value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  }
  if (!check(value)) throw new Error(`authenticator: options have no valid ${path}`);
  return value;
}
const isString = (v: unknown): v is string => typeof v === 'string';
const isList = (v: unknown): v is unknown[] => Array.isArray(v);
const optionalList = (object: unknown, path: string): unknown[] => {
  try {
    return field(object, path, isList);
  } catch {
    return [];
  }
};
const idsOf = (list: unknown[]): string[] =>
  list.flatMap((c) => (c && typeof c === 'object' && 'id' in c && typeof c.id === 'string' ? [c.id] : []));

/** A passkey authenticator and its browser: `create` for registration, `get` for sign-in. */
export class SoftwareAuthenticator {
  readonly #credentials = new Map<string, StoredCredential>();
  readonly #origin: string;
  readonly #userVerification: boolean;
  readonly #signCount: 'increment' | 'none';

  constructor(options: AuthenticatorOptions) {
    this.#origin = options.origin;
    this.#userVerification = options.userVerification ?? true;
    this.#signCount = options.signCount ?? 'increment';
  }

  /** Every credential held, oldest first. */
  get credentials(): StoredCredential[] {
    return [...this.#credentials.values()];
  }

  /** The credential with this id; throws when it is not held. */
  credential(id: string): StoredCredential {
    const found = this.#credentials.get(id);
    if (!found) throw new Error(`authenticator: no credential ${id}`);
    return found;
  }

  /**
   * `navigator.credentials.create()`: a new discoverable ES256 credential for
   * PublicKeyCredentialCreationOptionsJSON. Refuses (throws, as the browser's
   * InvalidStateError) when it already holds one of `excludeCredentials`.
   */
  async create(options: unknown, tampering: Tampering = {}): Promise<RegistrationCredentialJSON> {
    const challenge = field(options, 'challenge', isString);
    const rpId = field(options, 'rp.id', isString);
    const userHandle = field(options, 'user.id', isString);
    if (idsOf(optionalList(options, 'excludeCredentials')).some((id) => this.#credentials.has(id))) {
      throw new Error('InvalidStateError: the authenticator already holds an excluded credential');
    }
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rawId = randomBytes(32);
    const id = b64url(rawId);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(rawId.length);
    const attested = Buffer.concat([Buffer.alloc(16) /* AAGUID: none */, idLength, rawId, coseKey(publicKey)]);
    const flags = UP | AT | ((tampering.userVerified ?? this.#userVerification) ? UV : 0);
    const data = authData(tampering.rpId ?? rpId, flags, 0, attested);
    const attestationObject = cbor(
      new Map<string, unknown>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', data],
      ]),
    );
    this.#credentials.set(id, { id, rpId, userHandle, privateKey, publicKey, counter: 0 });
    return {
      id,
      rawId: id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientData('webauthn.create', challenge, tampering.origin ?? this.#origin)),
        attestationObject: b64url(attestationObject),
        transports: ['internal', 'hybrid'],
      },
    };
  }

  /**
   * `navigator.credentials.get()`: an assertion for
   * PublicKeyCredentialRequestOptionsJSON, with the first listed credential it
   * holds, or (no `allowCredentials`: discoverable) its first one for the RP ID.
   */
  async get(options: unknown, tampering: Tampering = {}): Promise<AuthenticationCredentialJSON> {
    const challenge = field(options, 'challenge', isString);
    const rpId = field(options, 'rpId', isString);
    const allowed = idsOf(optionalList(options, 'allowCredentials'));
    const credential = tampering.credentialId
      ? this.credential(tampering.credentialId)
      : allowed.length > 0
        ? allowed.map((id) => this.#credentials.get(id)).find((c) => c !== undefined)
        : this.credentials.find((c) => c.rpId === rpId);
    if (!credential) throw new Error('NotAllowedError: no credential for these options');
    credential.counter = this.#signCount === 'increment' ? credential.counter + 1 : 0;
    const counter = tampering.counter ?? credential.counter;
    const flags = UP | ((tampering.userVerified ?? this.#userVerification) ? UV : 0);
    const data = authData(tampering.rpId ?? rpId, flags, counter);
    const client = clientData('webauthn.get', challenge, tampering.origin ?? this.#origin);
    const signature = sign(
      'sha256',
      Buffer.concat([data, sha256(client)]),
      tampering.signWith ?? credential.privateKey,
    );
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(client),
        authenticatorData: b64url(data),
        signature: b64url(signature),
        userHandle: credential.userHandle,
      },
    };
  }
}

/** A P-256 private key no credential uses, for "signed by another key" tests. */
export const strangerKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
