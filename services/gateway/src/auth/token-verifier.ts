import { type AccessClaims, AccessClaims as AccessClaimsSchema, type Jwk } from '@gatehouse/contracts';
import { AppError, validate } from '@gatehouse/kit';
import { VerifyThreads, type VerifyThreadsOptions } from './verify-threads.ts';

/**
 * Where the verifier gets the public keys from (the session service's JWKS
 * over the bus). `kid`: a key it looks for and does not know yet, which the
 * source may read through for.
 */
export type JwksSource = (kid?: string) => Promise<Jwk[]>;

const MAX_CACHED_TOKENS = 50_000;
const JWKS_REFRESH_MIN_INTERVAL_MS = 5_000;
/** The published JWKS is served from memory, and reloaded when older than this (or on a rotation event). */
const JWKS_MAX_AGE_MS = 60_000;

/**
 * Verifies access tokens locally: no call to another service per request.
 *
 * An asymmetric signature check costs ~100 µs, which would cap the gateway far
 * below a bare route, so verified tokens are cached by their whole string
 * until their `exp` (bounded; the oldest entry goes first). The checks of new
 * tokens run on worker threads when they come in bursts (verify-threads.ts),
 * with fast-jwt (signature, algorithm, issuer); expiry and audience are
 * checked here against this verifier's clock. Revocation is not the cache's
 * concern: the caller checks the revocation set on every request.
 */
export class TokenVerifier {
  readonly #source: JwksSource;
  readonly #issuer: string;
  readonly #now: () => number;
  readonly #cache = new Map<string, AccessClaims>();
  readonly #threads: VerifyThreads;
  #loaded = false;
  #kids = new Set<string>();
  #published: Jwk[] | undefined;
  #lastRefresh = 0;
  #refreshing: Promise<void> | undefined;

  constructor(options: { source: JwksSource; issuer: string; now?: () => number } & VerifyThreadsOptions) {
    this.#source = options.source;
    this.#issuer = options.issuer;
    this.#now = options.now ?? Date.now;
    this.#threads = new VerifyThreads(options);
  }

  /** Stops the verification threads. */
  close(): Promise<void> {
    return this.#threads.close();
  }

  /** Loads the JWKS now (at start, and when the session service announces a rotation to `kid`). */
  async refreshKeys(kid?: string): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const keys = await this.#source(kid);
        this.#threads.setKeys(keys, this.#issuer);
        this.#loaded = true;
        this.#kids = new Set(keys.map((k) => k.kid));
        this.#published = keys;
        this.#lastRefresh = this.#now();
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /**
   * The public keys, as `/.well-known/jwks.json` publishes them: the ones this
   * gateway verifies with, reloaded once they are a minute old (a rotation
   * reloads them at once), so a busy JWKS endpoint does not reach the session
   * service, nor Redis, per call.
   */
  async jwks(): Promise<Jwk[]> {
    if (!this.#published || this.#now() - this.#lastRefresh > JWKS_MAX_AGE_MS) await this.refreshKeys();
    return this.#published ?? [];
  }

  /**
   * Returns the token's claims when its signature, issuer, audience and expiry hold.
   * Throws AppError `token_expired` for an expired token, `unauthorized` for any
   * other defect, `service_unavailable` when the keys cannot be loaded.
   */
  async verify(token: string, audience: string): Promise<AccessClaims> {
    const cached = this.cached(token, audience);
    if (cached) return cached;
    const claims = await this.#verifySignature(token, audience);
    if (this.#cache.size >= MAX_CACHED_TOKENS) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(token, claims);
    return claims;
  }

  /**
   * The claims of a token verified before, synchronously (the hot path needs no
   * promise); undefined when the token has not been seen. Throws like `verify`.
   */
  cached(token: string, audience: string): AccessClaims | undefined {
    const claims = this.#cache.get(token);
    if (claims === undefined) return undefined;
    if (claims.exp <= this.#now() / 1000) {
      this.#cache.delete(token);
      throw new AppError('token_expired', 'the access token has expired');
    }
    if (claims.aud !== audience) throw new AppError('unauthorized', 'the access token is not valid here');
    return claims;
  }

  async #verifySignature(token: string, audience: string): Promise<AccessClaims> {
    if (!this.#loaded) await this.refreshKeys();
    const kid = kidOf(token);
    // A kid we have not seen: the session service may have rotated. Reload, but
    // not more often than every few seconds, so junk tokens cannot hammer it.
    if (kid && !this.#kids.has(kid) && this.#now() - this.#lastRefresh > JWKS_REFRESH_MIN_INTERVAL_MS) {
      await this.refreshKeys(kid);
    }
    const payload = await this.#threads.check(kid, token);
    if (payload === null) throw new AppError('unauthorized', 'the access token is not valid');
    let claims: AccessClaims;
    try {
      claims = validate(AccessClaimsSchema, payload, 'access token claims');
    } catch (err) {
      throw new AppError('unauthorized', 'the access token is not valid', { cause: err });
    }
    if (claims.exp <= this.#now() / 1000) throw new AppError('token_expired', 'the access token has expired');
    if (claims.aud !== audience) throw new AppError('unauthorized', 'the access token is not valid here');
    return claims;
  }
}

function kidOf(token: string): string | undefined {
  const header = token.split('.', 1)[0];
  if (!header) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { kid?: unknown };
    return typeof parsed.kid === 'string' ? parsed.kid : undefined;
  } catch {
    return undefined;
  }
}
