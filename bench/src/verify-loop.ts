import { createPublicKey, type KeyObject, verify } from 'node:crypto';

/**
 * The raw ES256 verification rate: node:crypto's verify over each token's signing input, its
 * public key imported once (by kid), one token after another on this thread, as fast as it goes.
 * The limit a gateway's check of a token it has never seen can approach: the signature is all of it.
 */
export function verifyRate(
  jwks: { kid?: string }[],
  tokens: readonly string[],
): { rps: number; p50: number; p99: number; count: number } {
  const keys = new Map<string, KeyObject>();
  for (const jwk of jwks) if (jwk.kid) keys.set(jwk.kid, createPublicKey({ key: jwk as never, format: 'jwk' }));
  const started = performance.now();
  for (const token of tokens) {
    const dot = token.lastIndexOf('.');
    const header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString()) as {
      kid: string;
    };
    const key = keys.get(header.kid);
    if (!key) throw new Error(`no key ${header.kid} in the JWKS`);
    const ok = verify(
      'sha256',
      Buffer.from(token.slice(0, dot)),
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(token.slice(dot + 1), 'base64url'),
    );
    if (!ok) throw new Error('a token did not verify');
  }
  const elapsed = (performance.now() - started) / 1000;
  const each = (elapsed * 1000) / Math.max(1, tokens.length);
  return { rps: tokens.length / elapsed, p50: each, p99: each, count: tokens.length };
}
