// The signature check of an access token, with fast-jwt: shared by the gateway's main thread and
// its verification threads (verify-threads.ts), so it is plain JavaScript (a worker thread loads
// no TypeScript). A verifier per key id, built once per JWKS; expiry and audience are checked by
// the caller on the claims, against its own clock.
import { createPublicKey } from 'node:crypto';
import { isMainThread, parentPort } from 'node:worker_threads';
import { createVerifier } from 'fast-jwt';

/** `jwks`: the session service's public keys; `issuer`: PUBLIC_URL. A Map from kid to a verify function. */
export function compileKeys(jwks, issuer) {
  const verifiers = new Map();
  for (const jwk of jwks) {
    if (typeof jwk.kid !== 'string') continue;
    const algorithm = jwk.kty === 'OKP' ? 'EdDSA' : 'ES256';
    const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    verifiers.set(
      jwk.kid,
      createVerifier({
        key: pem,
        algorithms: [algorithm],
        allowedIss: issuer,
        ignoreExpiration: true,
        cache: false,
      }),
    );
  }
  return verifiers;
}

/** The token's payload when `kid`'s key signed it for `issuer`; throws otherwise (any error: not valid). */
export function checkToken(verifiers, kid, token) {
  const verify = kid === undefined && verifiers.size === 1 ? verifiers.values().next().value : verifiers.get(kid);
  if (!verify) throw new Error('no key for this token');
  return verify(token);
}

// As a worker thread: `{ keys, issuer }` replaces the keys; a batch `[[id, kid, token], ...]` is
// answered `[[id, payload], ...]`, with `[id, null]` for a token that did not verify.
if (!isMainThread && parentPort) {
  let verifiers = new Map();
  parentPort.on('message', (message) => {
    if (!Array.isArray(message)) {
      verifiers = compileKeys(message.keys, message.issuer);
      return;
    }
    const answers = [];
    for (const [id, kid, token] of message) {
      try {
        answers.push([id, checkToken(verifiers, kid, token)]);
      } catch {
        answers.push([id, null]);
      }
    }
    parentPort.postMessage(answers);
  });
}
