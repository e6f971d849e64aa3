import { createPrivateKey, randomBytes } from 'node:crypto';
import type { AccessClaims, Jwk } from '@gatehouse/contracts';
import { type Logger, seal, unseal, validate } from '@gatehouse/kit';
import { Type } from '@sinclair/typebox';
import { createSigner } from 'fast-jwt';
import { exportJWK, generateKeyPair } from 'jose';
import type { SigningKeyStore, StoredKey } from './keys.store.ts';

export interface KeyServiceDeps {
  store: SigningKeyStore;
  /** SECRET_KEY: private keys are sealed under it before they reach the store. */
  secretKey: Buffer;
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

const PrivateJwk = Type.Object({ kty: Type.String(), d: Type.String() });

interface Signer {
  kid: string;
  alg: StoredKey['alg'];
  /** fast-jwt's synchronous signer over node:crypto: a token in ~50 µs, where WebCrypto takes a thread hop. */
  sign: (claims: Record<string, unknown>) => string;
}

/**
 * The signing keys: generated on first start, sealed at rest, rotated every
 * `rotationDays`, published as a JWKS, used to sign access tokens. Several
 * replicas share one store; the store's compare-and-set decides which
 * replica's key becomes active, and the others load it.
 */
export class KeyService {
  readonly #deps: KeyServiceDeps;
  readonly #random: (bytes: number) => Buffer;
  #keys: StoredKey[] = [];
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
   */
  async reload(): Promise<void> {
    await this.#read();
    if (!this.#active()) await this.#activate(null);
  }

  async #read(): Promise<void> {
    const seq = ++this.#started;
    const keys = (await this.#deps.store.listKeys()).sort((a, b) => b.created_at - a.created_at);
    const active = keys.find((k) => k.retired_at === null);
    const signer = active && active.kid !== this.#signer?.kid ? await this.#import(active) : this.#signer;
    // Two reloads may overlap: only a read that began after the applied one may replace it.
    if (seq < this.#applied) return;
    this.#applied = seq;
    this.#keys = keys;
    this.#signer = signer;
    this.#checkedAt = this.#deps.now();
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

  /** The public keys a verifier needs: the active key and the retired ones whose tokens may still live. */
  async jwks(): Promise<Jwk[]> {
    // Read through: a gateway asks when it sees a kid it does not know, which
    // another replica may have just created.
    await this.reload();
    return this.#keys.filter((k) => this.#published(k)).map((k) => k.public_jwk);
  }

  /** Signs an access token with the active key (header alg, kid, typ JWT). */
  async sign(claims: AccessClaims): Promise<string> {
    if (this.#deps.now() - this.#checkedAt > RECHECK_MS || !this.#signer) {
      this.#rechecking ??= this.reload().finally(() => {
        this.#rechecking = undefined;
      });
      await this.#rechecking.catch((err) => {
        // A stale key still verifies for a while; only fail without any key.
        if (!this.#signer) throw err;
        this.#deps.log.warn({ err }, 'could not re-read the signing keys; signing with the cached one');
      });
    }
    const signer = this.#signer;
    if (!signer) throw new Error('no active signing key');
    return signer.sign({ ...claims });
  }

  #active(): StoredKey | undefined {
    return this.#keys.find((k) => k.retired_at === null);
  }

  #published(key: StoredKey): boolean {
    if (key.retired_at === null) return true;
    return key.retired_at + this.#deps.accessTokenTtl * 1000 + SKEW_MS > this.#deps.now();
  }

  async #import(key: StoredKey): Promise<Signer> {
    let jwk: unknown;
    try {
      jwk = JSON.parse(unseal(this.#deps.secretKey, key.sealed_private, `signing-key:${key.kid}`));
    } catch (cause) {
      throw new Error(`cannot unseal signing key ${key.kid}: is SECRET_KEY the key it was sealed with?`, { cause });
    }
    const privateKey = createPrivateKey({ key: validate(PrivateJwk, jwk, 'private signing key'), format: 'jwk' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    // The claims carry their own iat and exp, which fast-jwt keeps (it only fills in a missing iat).
    const sign = createSigner({ key: pem, algorithm: key.alg, kid: key.kid });
    return { kid: key.kid, alg: key.alg, sign };
  }

  /** Generates a key and tries to make it active; whoever loses reloads the winner's key. */
  async #activate(expectedActiveKid: string | null): Promise<string | null> {
    const { alg, secretKey, now, store, log } = this.#deps;
    const kid = this.#random(16).toString('base64url');
    const pair = await generateKeyPair(alg, { extractable: true });
    const { kty, crv, x, y } = await exportJWK(pair.publicKey);
    const privateJwk = JSON.stringify(await exportJWK(pair.privateKey));
    const key: StoredKey = {
      kid,
      alg,
      created_at: now(),
      retired_at: null,
      // Public parts only; an Ed25519 key has no y.
      public_jwk: {
        kty: String(kty),
        kid,
        alg,
        use: 'sig',
        ...(crv ? { crv } : {}),
        ...(x ? { x } : {}),
        ...(y ? { y } : {}),
      },
      sealed_private: seal(secretKey, privateJwk, `signing-key:${kid}`),
    };
    const won = await store.activateKey(key, expectedActiveKid, now());
    await this.#read();
    if (!won) return null;
    log.info({ kid, alg, previous: expectedActiveKid }, 'signing key activated');
    await this.#deps.onActivated?.(kid);
    return kid;
  }
}
