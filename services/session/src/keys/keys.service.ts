import { createPrivateKey, createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import type { AccessClaims, Jwk } from '@gatehouse/contracts';
import { type KeyRing, type Logger, seal, unseal, validate } from '@gatehouse/kit';
import { Type } from '@sinclair/typebox';
import { createSigner } from 'fast-jwt';
import { exportJWK, generateKeyPair } from 'jose';
import type { SigningKeyStore, StoredKey } from './keys.store.ts';

export interface KeyServiceDeps {
  store: SigningKeyStore;
  /**
   * SECRET_KEY, and SECRET_KEY_PREVIOUS during a rotation: private keys are
   * sealed under the primary before they reach the store, and open under any.
   */
  keyRing: KeyRing;
  alg: 'ES256' | 'EdDSA';
  rotationDays: number;
  /** Seconds; a retired key stays published while tokens it signed may still be alive. */
  accessTokenTtl: number;
  now: () => number;
  log: Logger;
  /** Called after this replica made a new key active (the app announces it, so other replicas and gateways reload). */
  onActivated?: (kid: string) => Promise<void>;
  random?: (bytes: number) => Buffer;
}

/** Clock skew a verifier may allow past `exp`; a retired key stays published this much longer. */
const SKEW_MS = 60_000;
/** Another replica may rotate; re-read the active key at least this often before signing. */
const RECHECK_MS = 30_000;
/**
 * The JWKS is served from memory, re-read from the store when older than this
 * (a kid it does not know is read through at once). Rotations are announced,
 * and every replica reloads on the announcement, so this only bounds staleness.
 */
const JWKS_MAX_AGE_MS = 5_000;

/** The sealing context of a private signing key: it cannot be moved to another kid. */
export const signingKeyContext = (kid: string): string => `signing-key:${kid}`;

const PrivateJwk = Type.Object({ kty: Type.String(), d: Type.String() });

interface Signer {
  kid: string;
  alg: StoredKey['alg'];
  /** fast-jwt's synchronous signer over node:crypto: a token in ~50 µs, where WebCrypto takes a thread hop. */
  sign: (claims: Record<string, unknown>) => string;
}

/** A stored key, opened: everything here comes from the sealed private key, nothing from beside it. */
interface Opened {
  /** The public half, derived from the private key: what the JWKS publishes. */
  jwk: Jwk;
  privateKey: KeyObject;
  signer?: Signer;
}

/** What unsealing one stored value came to, kept per kid while the sealed value and alg stay the same. */
interface Unsealing {
  sealed: string;
  alg: StoredKey['alg'];
  result: Opened | Error;
}

/**
 * The signing keys: generated on first start, sealed at rest, rotated every
 * `rotationDays`, published as a JWKS, used to sign access tokens. Several
 * replicas share one store; the store's compare-and-set decides which
 * replica's key becomes active, and the others load it.
 *
 * The store is not trusted with the public keys: each one published is
 * derived from its sealed private key, and a key that does not open under
 * SECRET_KEY (or SECRET_KEY_PREVIOUS) is neither published nor used.
 */
export class KeyService {
  readonly #deps: KeyServiceDeps;
  readonly #random: (bytes: number) => Buffer;
  #keys: StoredKey[] = [];
  /** The opened keys of `#keys`, by kid; a key that did not open is absent. */
  #opened = new Map<string, Opened>();
  /** Unsealing results by kid, so a reload unseals only what changed. */
  readonly #unsealed = new Map<string, Unsealing>();
  #signer: Signer | undefined;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #rechecking: Promise<void> | undefined;
  #started = 0;
  #applied = 0;

  constructor(deps: KeyServiceDeps) {
    this.#deps = deps;
    this.#random = deps.random ?? randomBytes;
  }

  /** Loads the keys, creating the first one if there is none, and rotates if due. Returns the kid if it rotated. */
  async start(): Promise<string | null> {
    await this.reload();
    return this.rotateIfDue();
  }

  /**
   * Re-reads the keys from the store (another replica may have rotated) and
   * caches the active private key. Creates a key when the store has none: on
   * first start, or after a Redis that kept nothing on disk came back empty.
   * Throws when the active key does not open (SECRET_KEY is not the key that
   * sealed it).
   */
  async reload(): Promise<void> {
    await this.#read();
    if (!this.#active()) await this.#activate(null);
  }

  async #read(): Promise<void> {
    const seq = ++this.#started;
    const keys = (await this.#deps.store.listKeys()).sort((a, b) => b.created_at - a.created_at);
    const active = keys.find((k) => k.retired_at === null);
    const opened = new Map<string, Opened>();
    for (const key of keys) {
      const result = this.#open(key);
      if (!(result instanceof Error)) opened.set(key.kid, result);
      else if (key === active) throw result; // logged by #open; retired keys are merely left out
    }
    // Two reloads may overlap: only a read that began after the applied one may replace it.
    if (seq < this.#applied) return;
    this.#applied = seq;
    this.#keys = keys;
    this.#opened = opened;
    this.#signer = active ? this.#signerOf(active, opened.get(active.kid) as Opened) : undefined;
    this.#checkedAt = this.#deps.now();
    for (const kid of this.#unsealed.keys()) if (!keys.some((k) => k.kid === kid)) this.#unsealed.delete(kid);
  }

  /**
   * Rotates when the active key is older than `rotationDays` (or of another
   * algorithm than configured), and forgets retired keys no token can need.
   * Returns the new kid when this replica rotated, else null.
   */
  async rotateIfDue(): Promise<string | null> {
    await this.reload();
    const active = this.#active();
    const maxAgeMs = this.#deps.rotationDays * 86_400_000;
    let rotated: string | null = null;
    if (!active || active.created_at + maxAgeMs <= this.#deps.now() || active.alg !== this.#deps.alg) {
      rotated = await this.rotate();
    }
    for (const key of this.#keys) {
      if (!this.#published(key)) await this.#deps.store.deleteKey(key.kid);
    }
    return rotated;
  }

  /**
   * Makes a new key active now; the old one stays in the JWKS until the last
   * token it signed has expired. Returns the new kid, or null when another
   * replica rotated first (its key is then loaded instead).
   */
  async rotate(): Promise<string | null> {
    await this.reload();
    return this.#activate(this.#active()?.kid ?? null);
  }

  /**
   * The public keys a verifier needs: the active key and the retired ones
   * whose tokens may still live, each derived from its sealed private key.
   * Served from memory, re-read when older than a few seconds, and read
   * through when asked for a `kid` this replica does not know (a gateway
   * seeing a token of a key another replica has just created).
   */
  async jwks(kid?: string): Promise<Jwk[]> {
    if (kid !== undefined && !this.#keys.some((k) => k.kid === kid)) {
      // Not shared with a reload in flight: that one may have begun before the key existed.
      await this.#tolerate(this.reload());
    } else if (this.#deps.now() - this.#checkedAt >= JWKS_MAX_AGE_MS || !this.#signer) {
      await this.#recheck();
    }
    const jwks: Jwk[] = [];
    for (const key of this.#keys) {
      const opened = this.#opened.get(key.kid);
      if (opened && this.#published(key)) jwks.push(opened.jwk);
    }
    return jwks;
  }

  /** Signs an access token with the active key (header alg, kid, typ JWT). */
  async sign(claims: AccessClaims): Promise<string> {
    if (this.#deps.now() - this.#checkedAt > RECHECK_MS || !this.#signer) await this.#recheck();
    const signer = this.#signer;
    if (!signer) throw new Error('no active signing key');
    return signer.sign({ ...claims });
  }

  /** One shared reload for every caller that finds the cache stale. */
  async #recheck(): Promise<void> {
    this.#rechecking ??= this.reload().finally(() => {
      this.#rechecking = undefined;
    });
    await this.#tolerate(this.#rechecking);
  }

  /** A failed reload is an error only without any key; otherwise the cached keys serve a while longer. */
  async #tolerate(reload: Promise<void>): Promise<void> {
    await reload.catch((err) => {
      if (!this.#signer) throw err;
      this.#deps.log.warn({ err }, 'could not re-read the signing keys; using the cached ones');
    });
  }

  #active(): StoredKey | undefined {
    return this.#keys.find((k) => k.retired_at === null);
  }

  /**
   * A retired key stays published until the expiry recorded when it was
   * retired, so every replica prunes it at the same time whatever its own
   * ACCESS_TOKEN_TTL. A key retired by an earlier release recorded none: then
   * this replica's lifetime decides, as it did then.
   */
  #published(key: StoredKey): boolean {
    if (key.retired_at === null) return true;
    const until = key.publish_until ?? key.retired_at + this.#deps.accessTokenTtl * 1000 + SKEW_MS;
    return until > this.#deps.now();
  }

  /** Opens a stored key, once per kid and sealed value; an Error (logged, naming the kid) when it does not open. */
  #open(key: StoredKey): Opened | Error {
    const cached = this.#unsealed.get(key.kid);
    if (cached && cached.sealed === key.sealed_private && cached.alg === key.alg) return cached.result;
    let result: Opened | Error;
    try {
      result = this.#unseal(key);
    } catch (err) {
      result = err instanceof Error ? err : new Error(String(err));
      this.#deps.log.error(
        { kid: key.kid, err: result },
        'signing key does not open with SECRET_KEY or SECRET_KEY_PREVIOUS: it is neither published nor used',
      );
    }
    this.#unsealed.set(key.kid, { sealed: key.sealed_private, alg: key.alg, result });
    return result;
  }

  #unseal(key: StoredKey): Opened {
    let jwk: unknown;
    try {
      jwk = JSON.parse(unseal(this.#deps.keyRing, key.sealed_private, signingKeyContext(key.kid)));
    } catch (cause) {
      throw new Error(
        `cannot unseal signing key ${key.kid}: is SECRET_KEY (or one of SECRET_KEY_PREVIOUS) the key it was sealed with?`,
        { cause },
      );
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: validate(PrivateJwk, jwk, 'private signing key'), format: 'jwk' });
    } catch (cause) {
      throw new Error(`signing key ${key.kid} holds no usable private key`, { cause });
    }
    const alg = algorithmOf(privateKey);
    if (alg !== key.alg)
      throw new Error(`signing key ${key.kid} is stored as ${key.alg} but is ${alg ?? 'another kind'}`);
    const { kty, crv, x, y } = createPublicKey(privateKey).export({ format: 'jwk' });
    return { jwk: publicJwk(key.kid, alg, { kty, crv, x, y }), privateKey };
  }

  #signerOf(key: StoredKey, opened: Opened): Signer {
    if (!opened.signer) {
      const pem = opened.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      // The claims carry their own iat and exp, which fast-jwt keeps (it only fills in a missing iat).
      const sign = createSigner({ key: pem, algorithm: key.alg, kid: key.kid });
      opened.signer = { kid: key.kid, alg: key.alg, sign };
    }
    return opened.signer;
  }

  /** Generates a key and tries to make it active; whoever loses reloads the winner's key. */
  async #activate(expectedActiveKid: string | null): Promise<string | null> {
    const { alg, keyRing, now, store, log, accessTokenTtl } = this.#deps;
    const kid = this.#random(16).toString('base64url');
    const pair = await generateKeyPair(alg, { extractable: true });
    const { kty, crv, x, y } = await exportJWK(pair.publicKey);
    const privateJwk = JSON.stringify(await exportJWK(pair.privateKey));
    const key: StoredKey = {
      kid,
      alg,
      created_at: now(),
      retired_at: null,
      publish_until: null,
      // Never read back (the JWKS derives it from the private key); earlier releases publish it.
      public_jwk: publicJwk(kid, alg, { kty, crv, x, y }),
      sealed_private: seal(keyRing, privateJwk, signingKeyContext(kid)),
    };
    const at = now();
    // The key it retires stays published until the last token it may have signed expires.
    const won = await store.activateKey(key, expectedActiveKid, at, at + accessTokenTtl * 1000 + SKEW_MS);
    await this.#read();
    if (!won) return null;
    log.info({ kid, alg, previous: expectedActiveKid }, 'signing key activated');
    await this.#deps.onActivated?.(kid);
    return kid;
  }
}

/** The JWS algorithm of a private key, if it is one Gatehouse signs with. */
function algorithmOf(key: KeyObject): StoredKey['alg'] | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

/** The published form of a public key: its public parts only (an Ed25519 key has no y). */
function publicJwk(
  kid: string,
  alg: StoredKey['alg'],
  parts: { kty?: unknown; crv?: unknown; x?: unknown; y?: unknown },
) {
  const { kty, crv, x, y } = parts;
  const jwk: Jwk = { kty: String(kty), kid, alg, use: 'sig' };
  if (typeof crv === 'string') jwk.crv = crv;
  if (typeof x === 'string') jwk.x = x;
  if (typeof y === 'string') jwk.y = y;
  return jwk;
}
