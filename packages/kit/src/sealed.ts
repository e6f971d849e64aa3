import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** HKDF `info` of a key's id: the id is for naming the key and nothing else. */
const KEY_ID_INFO = 'gatehouse/sealed/key-id';

/**
 * A short, non-secret name of a 32-byte sealing key: the first 8 bytes of
 * HKDF-SHA256 of it, base64url (11 characters). It tells which key sealed a
 * value without saying anything about the key.
 */
export function keyId(key: Buffer): string {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), KEY_ID_INFO, 8)).toString('base64url');
}

/**
 * The sealing keys of a deployment: `primary` (SECRET_KEY) seals everything
 * new; `previous` (SECRET_KEY_PREVIOUS) still opens what they sealed, so that
 * SECRET_KEY can be rotated without losing data. Immutable.
 */
export class KeyRing {
  readonly primary: Buffer;
  readonly previous: readonly Buffer[];
  /** The primary key's id, as `v2.<kid>.` values sealed now carry it. */
  readonly primaryKid: string;
  readonly #byKid: ReadonlyMap<string, Buffer>;

  constructor(primary: Buffer, previous: readonly Buffer[] = []) {
    for (const key of [primary, ...previous]) {
      if (key.length !== 32) throw new Error('a sealing key is 32 bytes');
    }
    this.primary = primary;
    this.primaryKid = keyId(primary);
    const byKid = new Map<string, Buffer>([[this.primaryKid, primary]]);
    const older: Buffer[] = [];
    for (const key of previous) {
      // A key listed twice (or the primary listed again as a previous key) changes nothing.
      const kid = keyId(key);
      if (byKid.has(kid)) continue;
      byKid.set(kid, key);
      older.push(key);
    }
    this.previous = older;
    this.#byKid = byKid;
  }

  /** Every key, the primary first. */
  get keys(): readonly Buffer[] {
    return [this.primary, ...this.previous];
  }

  /** The key of that id, if the ring holds it. */
  get(kid: string): Buffer | undefined {
    return this.#byKid.get(kid);
  }
}

/** A ring, from a ring or a single key (a ring of that key alone). */
const ringOf = (keys: KeyRing | Buffer): KeyRing => (keys instanceof KeyRing ? keys : new KeyRing(keys));

/** The error of a value the ring cannot open: wrong key, wrong context, tampered or not sealed at all. */
export class UnsealError extends Error {
  override name = 'UnsealError';
}

/**
 * Encrypts secrets at rest (signing keys, TOTP secrets) with AES-256-GCM under
 * the ring's primary key (SECRET_KEY). Output: `v2.<kid>.<iv>.<tag>.<ciphertext>`,
 * base64url parts, where `kid` is `keyId` of the key. The `context` string is
 * bound as associated data, with the version and kid, so a sealed value cannot
 * be moved to another field or record.
 */
export function seal(keys: KeyRing | Buffer, plaintext: string, context: string): string {
  const ring = ringOf(keys);
  const kid = ring.primaryKid;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', ring.primary, iv);
  cipher.setAAD(v2Aad(kid, context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [
    'v2',
    kid,
    iv.toString('base64url'),
    cipher.getAuthTag().toString('base64url'),
    body.toString('base64url'),
  ].join('.');
}

/**
 * Reverses `seal`. Opens `v2` values with the ring's key of their kid, and the
 * legacy `v1.<iv>.<tag>.<ciphertext>` (no kid; context alone as associated
 * data) with whichever ring key authenticates it. Throws `UnsealError` when the
 * key is not in the ring, or the key, the context or the data is wrong.
 */
export function unseal(keys: KeyRing | Buffer, sealed: string, context: string): string {
  const ring = ringOf(keys);
  const parts = sealed.split('.');
  if (parts[0] === 'v2' && parts.length === 5) {
    const [, kid, iv, tag, body] = parts as [string, string, string, string, string];
    const key = ring.get(kid);
    if (!key) throw new UnsealError(`sealed under key ${kid}, which is neither SECRET_KEY nor in SECRET_KEY_PREVIOUS`);
    const plain = open(key, iv, tag, body, v2Aad(kid, context));
    if (plain === undefined) throw new UnsealError(`cannot unseal: wrong context or tampered data (key ${kid})`);
    return plain;
  }
  if (parts[0] === 'v1' && parts.length === 4) {
    const [, iv, tag, body] = parts as [string, string, string, string];
    for (const key of ring.keys) {
      const plain = open(key, iv, tag, body, Buffer.from(context));
      if (plain !== undefined) return plain;
    }
    throw new UnsealError(
      'cannot unseal a v1 value with any key of SECRET_KEY, SECRET_KEY_PREVIOUS (or wrong context)',
    );
  }
  throw new UnsealError('not a sealed value');
}

/** The id of the key that sealed a value (`v2`), or null when it does not say (`v1`, or not a sealed value). */
export function sealedKeyId(sealed: string): string | null {
  const parts = sealed.split('.');
  return parts[0] === 'v2' && parts.length === 5 ? (parts[1] ?? null) : null;
}

/** True when the value is sealed under the ring's primary key: re-sealing it would change nothing. */
export function isSealedUnderPrimary(keys: KeyRing | Buffer, sealed: string): boolean {
  return sealedKeyId(sealed) === ringOf(keys).primaryKid;
}

const v2Aad = (kid: string, context: string) => Buffer.from(`v2.${kid}.${context}`);

/** AES-256-GCM decryption; undefined when the tag does not verify (or the parts are malformed). */
function open(key: Buffer, iv: string, tag: string, body: string, aad: Buffer): string | undefined {
  const ivBytes = Buffer.from(iv, 'base64url');
  const tagBytes = Buffer.from(tag, 'base64url');
  // Full-length tags only: GCM would otherwise accept a truncated (weaker) one.
  if (ivBytes.length !== 12 || tagBytes.length !== 16) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, ivBytes, { authTagLength: 16 });
    decipher.setAAD(aad);
    decipher.setAuthTag(tagBytes);
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
