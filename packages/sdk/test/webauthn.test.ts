import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  authenticationToJSON,
  creationOptionsFromJSON,
  type PublicKeyCredentialLike,
  registrationToJSON,
  requestOptionsFromJSON,
} from '../src/index.ts';

const bytes = (...values: number[]) => new Uint8Array(values).buffer;
const b64u = (buffer: ArrayBuffer) => Buffer.from(buffer).toString('base64url');

describe('passkey helpers: JSON to ArrayBuffers and back', () => {
  test('creation options: challenge, user.id and excludeCredentials ids decoded; the rest kept', () => {
    const json = {
      rp: { id: 'localhost', name: 'Gatehouse' },
      user: { id: b64u(bytes(1, 2, 3)), name: 'ada@example.com', displayName: 'Ada' },
      challenge: b64u(bytes(250, 251, 252, 253)),
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
      excludeCredentials: [{ id: b64u(bytes(9, 9)), type: 'public-key', transports: ['internal'] }],
      timeout: 300000,
    };
    const options = creationOptionsFromJSON(json) as {
      challenge: ArrayBuffer;
      user: { id: ArrayBuffer; name: string };
      excludeCredentials: { id: ArrayBuffer; transports: string[] }[];
      rp: unknown;
      timeout: number;
    };
    assert.ok(options.challenge instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(options.challenge)], [250, 251, 252, 253]);
    assert.deepEqual([...new Uint8Array(options.user.id)], [1, 2, 3]);
    assert.equal(options.user.name, 'ada@example.com');
    assert.deepEqual([...new Uint8Array(options.excludeCredentials[0]?.id as ArrayBuffer)], [9, 9]);
    assert.deepEqual(options.excludeCredentials[0]?.transports, ['internal']);
    assert.deepEqual(options.rp, json.rp);
    assert.equal(options.timeout, 300000);
  });

  test('request options: challenge and allowCredentials decoded, challenge_id left out', () => {
    const options = requestOptionsFromJSON({
      challenge: b64u(bytes(7, 8)),
      allowCredentials: [{ id: b64u(bytes(4)), type: 'public-key' }],
      rpId: 'localhost',
      challenge_id: '0190-...',
    }) as { challenge: ArrayBuffer; allowCredentials: { id: ArrayBuffer }[]; challenge_id?: string; rpId: string };
    assert.deepEqual([...new Uint8Array(options.challenge)], [7, 8]);
    assert.deepEqual([...new Uint8Array(options.allowCredentials[0]?.id as ArrayBuffer)], [4]);
    assert.equal(options.challenge_id, undefined);
    assert.equal(options.rpId, 'localhost');
  });

  test('a bad base64url field is refused', () => {
    assert.throws(() => creationOptionsFromJSON({ challenge: 42, user: { id: 'AQ' } }), TypeError);
  });

  test('credentials to the JSON the server checks (base64url, no padding; null fields left out)', () => {
    const registration: PublicKeyCredentialLike = {
      id: 'cred-id',
      rawId: bytes(0xfb, 0xff, 0xfe),
      type: 'public-key',
      authenticatorAttachment: null,
      getClientExtensionResults: () => ({ credProps: { rk: true } }),
      response: {
        clientDataJSON: new TextEncoder().encode('{"type":"webauthn.create"}').buffer,
        attestationObject: bytes(1, 2, 3, 4, 5),
        getTransports: () => ['internal', 'hybrid'],
      },
    };
    assert.deepEqual(registrationToJSON(registration), {
      id: 'cred-id',
      rawId: '-__-',
      type: 'public-key',
      clientExtensionResults: { credProps: { rk: true } },
      response: {
        clientDataJSON: Buffer.from('{"type":"webauthn.create"}').toString('base64url'),
        attestationObject: 'AQIDBAU',
        transports: ['internal', 'hybrid'],
      },
    });
    const assertion: PublicKeyCredentialLike = {
      id: 'cred-id',
      rawId: bytes(1),
      type: 'public-key',
      authenticatorAttachment: 'platform',
      response: {
        clientDataJSON: bytes(2),
        authenticatorData: bytes(3),
        signature: bytes(4),
        userHandle: bytes(5, 6),
      },
    };
    assert.deepEqual(authenticationToJSON(assertion), {
      id: 'cred-id',
      rawId: 'AQ',
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
      response: { clientDataJSON: 'Ag', authenticatorData: 'Aw', signature: 'BA', userHandle: 'BQY' },
    });
    assert.throws(() => registrationToJSON(assertion), TypeError);
  });
});
