// What the hand-made peers (fake OIDC, GitHub, X) share: expiring one-time stores, PKCE, client lookup, token faults.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OAuthClient, TokenFaults } from './types.ts';

/** A random URL-safe identifier (codes, tokens, request ids). */
export function randomId(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** Values that expire, under random ids; `take` makes them single use. */
export class ExpiringStore<T> {
  readonly #entries = new Map<string, { value: T; expiresAt: number }>();

  /** Stores `value` for `ttlMs` under a new random id, returned. */
  add(value: T, ttlMs: number, prefix = ''): string {
    const id = prefix + randomId();
    this.#entries.set(id, { value, expiresAt: Date.now() + ttlMs });
    return id;
  }

  /** The value under `id`, unless absent or expired. */
  get(id: string | undefined): T | undefined {
    if (id === undefined) return undefined;
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(id);
      return undefined;
    }
    return entry.value;
  }

  /** The value under `id`, removed so that it cannot be used again. */
  take(id: string | undefined): T | undefined {
    const value = this.get(id);
    if (id !== undefined) this.#entries.delete(id);
    return value;
  }
}

/** The PKCE S256 challenge of a verifier: BASE64URL(SHA256(verifier)). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** True when `verifier` is well-formed (RFC 7636 §4.1) and its S256 challenge is `challenge`. */
export function pkceMatches(verifier: string | undefined, challenge: string): boolean {
  if (!verifier || !VERIFIER.test(verifier)) return false;
  return constantEquals(s256(verifier), challenge);
}

/** Compares secrets without leaking where they differ. */
export function constantEquals(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The registered client with this id. */
export function findClient(clients: readonly OAuthClient[], id: string | undefined): OAuthClient | undefined {
  return clients.find((client) => client.client_id === id);
}

/** True when `secret` is the client's secret. */
export function secretMatches(client: OAuthClient, secret: string | undefined): boolean {
  return secret !== undefined && constantEquals(client.client_secret, secret);
}

/** True when `uri` is exactly one of the client's redirect URIs. */
export function redirectUriAllowed(client: OAuthClient, uri: string | undefined): uri is string {
  return uri !== undefined && client.redirect_uris.includes(uri);
}

/** The token faults of a peer, changed by `set`, applied by `apply` before each token endpoint answer. */
export class TokenFaultState {
  #faults: TokenFaults;
  readonly #closing = new AbortController();

  constructor(faults: TokenFaults = {}) {
    this.#faults = { tokenDelayMs: faults.tokenDelayMs, tokenStatus: faults.tokenStatus };
  }

  /** Applies the keys present in `faults` (`{ tokenStatus: undefined }` clears it); other keys are ignored. */
  set(faults: TokenFaults): void {
    if ('tokenDelayMs' in faults) this.#faults.tokenDelayMs = faults.tokenDelayMs;
    if ('tokenStatus' in faults) this.#faults.tokenStatus = faults.tokenStatus;
  }

  /** Waits `tokenDelayMs` (cut short by `abort`), then returns `tokenStatus` if one is set. */
  async apply(): Promise<number | undefined> {
    const delay = this.#faults.tokenDelayMs ?? 0;
    if (delay > 0) await sleep(delay, undefined, { signal: this.#closing.signal });
    return this.#faults.tokenStatus;
  }

  /** Ends pending delays (the peer is closing). */
  abort(): void {
    this.#closing.abort();
  }
}

/** Splits a space-separated scope parameter (GitHub also allows commas). */
export function scopesOf(scope: string | undefined, separators = /\s+/): string[] {
  return (scope ?? '').split(separators).filter(Boolean);
}

/** An authorization the user approved, waiting for its code to be exchanged. */
export interface CodeGrant {
  clientId: string;
  redirectUri: string;
  sub: string;
  scopes: string[];
  codeChallenge?: string;
  codeChallengeMethod?: string;
  nonce?: string;
  authTime: number;
}

/** An access token the peer issued. */
export interface IssuedToken {
  clientId: string;
  sub: string;
  scopes: string[];
}

/** Codes live 10 minutes (GitHub's figure); pending consent pages as long. */
export const CODE_TTL_MS = 10 * 60_000;
/** Access tokens live 2 hours (X's figure). */
export const TOKEN_TTL_S = 7_200;
