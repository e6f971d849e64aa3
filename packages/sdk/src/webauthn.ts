/**
 * Passkeys in the browser, with no library: the server's WebAuthn options arrive as JSON (binary
 * fields in base64url, as @simplewebauthn/server writes them); navigator.credentials wants
 * ArrayBuffers; the credential goes back as JSON again (what PublicKeyCredential.toJSON() writes).
 */
import { base64urlDecode, base64urlEncode } from './jwt.ts';

/** WebAuthn options or a credential, as JSON. */
export type WebAuthnJSON = Record<string, unknown>;

interface CredentialDescriptorJSON {
  id: string;
  type?: string;
  transports?: string[];
}

const toBuffer = (value: unknown, field: string): ArrayBuffer => {
  if (typeof value !== 'string') throw new TypeError(`WebAuthn options: ${field} is not a base64url string`);
  return base64urlDecode(value).buffer;
};

const descriptors = (list: unknown, field: string) =>
  Array.isArray(list)
    ? (list as CredentialDescriptorJSON[]).map((d, i) => ({
        ...d,
        type: d.type ?? 'public-key',
        id: toBuffer(d.id, `${field}[${i}].id`),
      }))
    : undefined;

/**
 * The creation options for `navigator.credentials.create({ publicKey })`: `challenge`, `user.id`
 * and `excludeCredentials[].id` decoded to ArrayBuffers, everything else as it came.
 */
export function creationOptionsFromJSON(json: WebAuthnJSON): WebAuthnJSON {
  const user = (json.user ?? {}) as WebAuthnJSON;
  const options: WebAuthnJSON = {
    ...json,
    challenge: toBuffer(json.challenge, 'challenge'),
    user: { ...user, id: toBuffer(user.id, 'user.id') },
  };
  const exclude = descriptors(json.excludeCredentials, 'excludeCredentials');
  if (exclude) options.excludeCredentials = exclude;
  return options;
}

/**
 * The request options for `navigator.credentials.get({ publicKey })`: `challenge` and
 * `allowCredentials[].id` decoded; Gatehouse's `challenge_id` left out (it goes back to the server).
 */
export function requestOptionsFromJSON(json: WebAuthnJSON): WebAuthnJSON {
  const { challenge_id: _challengeId, ...rest } = json;
  const options: WebAuthnJSON = { ...rest, challenge: toBuffer(json.challenge, 'challenge') };
  const allow = descriptors(json.allowCredentials, 'allowCredentials');
  if (allow) options.allowCredentials = allow;
  return options;
}

/** What the SDK reads of a PublicKeyCredential (the DOM type, kept structural here). */
export interface PublicKeyCredentialLike {
  id: string;
  rawId: ArrayBuffer;
  type: string;
  authenticatorAttachment?: string | null;
  getClientExtensionResults?(): unknown;
  response: {
    clientDataJSON: ArrayBuffer;
    attestationObject?: ArrayBuffer;
    getTransports?(): string[];
    authenticatorData?: ArrayBuffer;
    signature?: ArrayBuffer;
    userHandle?: ArrayBuffer | null;
  };
}

function common(credential: PublicKeyCredentialLike): WebAuthnJSON {
  const json: WebAuthnJSON = {
    id: credential.id,
    rawId: base64urlEncode(credential.rawId),
    type: credential.type,
    clientExtensionResults: (credential.getClientExtensionResults?.() as WebAuthnJSON | undefined) ?? {},
  };
  const attachment = credential.authenticatorAttachment;
  if (attachment === 'platform' || attachment === 'cross-platform') json.authenticatorAttachment = attachment;
  return json;
}

/** A new credential (navigator.credentials.create) as the JSON POST /auth/passkeys/register/verify takes. */
export function registrationToJSON(credential: PublicKeyCredentialLike): WebAuthnJSON {
  const { response } = credential;
  if (!response.attestationObject) throw new TypeError('not a registration credential: no attestationObject');
  const out: WebAuthnJSON = {
    clientDataJSON: base64urlEncode(response.clientDataJSON),
    attestationObject: base64urlEncode(response.attestationObject),
  };
  const transports = response.getTransports?.();
  if (transports && transports.length > 0) out.transports = transports;
  return { ...common(credential), response: out };
}

/** An assertion (navigator.credentials.get) as the JSON the sign-in routes take. */
export function authenticationToJSON(credential: PublicKeyCredentialLike): WebAuthnJSON {
  const { response } = credential;
  if (!response.authenticatorData || !response.signature) {
    throw new TypeError('not an authentication credential: no authenticatorData or signature');
  }
  const out: WebAuthnJSON = {
    clientDataJSON: base64urlEncode(response.clientDataJSON),
    authenticatorData: base64urlEncode(response.authenticatorData),
    signature: base64urlEncode(response.signature),
  };
  if (response.userHandle && response.userHandle.byteLength > 0) out.userHandle = base64urlEncode(response.userHandle);
  return { ...common(credential), response: out };
}

interface CredentialsContainerLike {
  create(options: unknown): Promise<unknown>;
  get(options: unknown): Promise<unknown>;
}

function credentials(): CredentialsContainerLike {
  const container = (globalThis as unknown as { navigator?: { credentials?: CredentialsContainerLike } }).navigator
    ?.credentials;
  if (!container) {
    throw new Error('passkeys need a browser: navigator.credentials is not available here');
  }
  return container;
}

export interface CeremonyOptions {
  /** Cancels the browser's prompt. */
  signal?: AbortSignal;
}

/**
 * Runs navigator.credentials.create with the server's options; the credential as JSON. The
 * browser's refusals (the user cancelled: `NotAllowedError`) come as its DOMException.
 */
export async function createPasskeyCredential(optionsJSON: WebAuthnJSON, options: CeremonyOptions = {}) {
  const credential = await credentials().create({
    publicKey: creationOptionsFromJSON(optionsJSON),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!credential) throw new Error('the browser made no passkey');
  return registrationToJSON(credential as PublicKeyCredentialLike);
}

/** Runs navigator.credentials.get with the server's options; the assertion as JSON. */
export async function getPasskeyCredential(
  optionsJSON: WebAuthnJSON,
  options: CeremonyOptions & { mediation?: 'optional' | 'required' | 'conditional' | 'silent' } = {},
) {
  const credential = await credentials().get({
    publicKey: requestOptionsFromJSON(optionsJSON),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.mediation ? { mediation: options.mediation } : {}),
  });
  if (!credential) throw new Error('the browser gave no passkey');
  return authenticationToJSON(credential as PublicKeyCredentialLike);
}
