/**
 * WebAuthn between the server's JSON and the browser: the server speaks base64url strings (the JSON forms
 * of PublicKeyCredential), navigator.credentials speaks ArrayBuffers. toCreateOptions/toGetOptions turn
 * the options the server answers into what navigator.credentials.create()/get() take; credentialToJSON
 * turns what they give back into the body the server checks. Nothing here decides anything: the server
 * verifies every ceremony.
 */

// biome-ignore lint/suspicious/noExplicitAny: the server's options are JSON of a documented shape
type Json = Record<string, any>;

/** Whether this browser can do passkeys at all (a secure context with the WebAuthn API). */
export function webauthnSupported(): boolean {
  return typeof window !== 'undefined' && window.isSecureContext && typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

export function base64urlToBuffer(text: string): ArrayBuffer {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bin = atob(padded);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

export function bufferToBase64url(buf: ArrayBuffer | ArrayBufferView): string {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let bin = '';
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]!);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function descriptors(list: Json[] | undefined): PublicKeyCredentialDescriptor[] | undefined {
  return list?.map((d) => ({ ...d, type: 'public-key', id: base64urlToBuffer(d.id) }) as PublicKeyCredentialDescriptor);
}

/** PublicKeyCredentialCreationOptions from the server's JSON (POST /api/auth/passkeys/registration/options). */
export function toCreateOptions(json: Json): PublicKeyCredentialCreationOptions {
  return {
    ...json,
    challenge: base64urlToBuffer(json.challenge),
    user: { ...json.user, id: base64urlToBuffer(json.user.id) },
    excludeCredentials: descriptors(json.excludeCredentials) ?? [],
  } as PublicKeyCredentialCreationOptions;
}

/** PublicKeyCredentialRequestOptions from the server's JSON (the sign-in and second-step options). */
export function toGetOptions(json: Json): PublicKeyCredentialRequestOptions {
  const out: Json = { ...json, challenge: base64urlToBuffer(json.challenge) };
  if (json.allowCredentials) out.allowCredentials = descriptors(json.allowCredentials);
  return out as PublicKeyCredentialRequestOptions;
}

/** What navigator.credentials.create() or get() gave, as the JSON the server's verify routes take. */
export function credentialToJSON(cred: PublicKeyCredential): Json {
  const r = cred.response;
  const response: Json = { clientDataJSON: bufferToBase64url(r.clientDataJSON) };
  if ('attestationObject' in r) {
    const a = r as AuthenticatorAttestationResponse;
    response.attestationObject = bufferToBase64url(a.attestationObject);
    if (typeof a.getTransports === 'function') response.transports = a.getTransports();
    if (typeof a.getAuthenticatorData === 'function') response.authenticatorData = bufferToBase64url(a.getAuthenticatorData());
    if (typeof a.getPublicKeyAlgorithm === 'function') response.publicKeyAlgorithm = a.getPublicKeyAlgorithm();
    const pk = typeof a.getPublicKey === 'function' ? a.getPublicKey() : null;
    if (pk) response.publicKey = bufferToBase64url(pk);
  } else {
    const g = r as AuthenticatorAssertionResponse;
    response.authenticatorData = bufferToBase64url(g.authenticatorData);
    response.signature = bufferToBase64url(g.signature);
    if (g.userHandle && g.userHandle.byteLength > 0) response.userHandle = bufferToBase64url(g.userHandle);
  }
  const out: Json = {
    id: cred.id,
    rawId: bufferToBase64url(cred.rawId),
    type: 'public-key',
    response,
    clientExtensionResults: cred.getClientExtensionResults?.() ?? {},
  };
  const attachment = cred.authenticatorAttachment;
  if (attachment === 'platform' || attachment === 'cross-platform') out.authenticatorAttachment = attachment;
  return out;
}

/** A readable sentence for what the browser refused (the user cancelled, a timeout, a duplicate key...). */
export function describeWebauthnError(e: unknown): string | undefined {
  if (!(e instanceof DOMException)) return undefined;
  if (e.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out. Try again.';
  if (e.name === 'InvalidStateError') return 'This device already holds a passkey for your account.';
  if (e.name === 'SecurityError') return 'Passkeys are not allowed on this address. Open the app at its configured address.';
  if (e.name === 'NotSupportedError') return 'This browser or device cannot create a passkey of the kind the server asks for.';
  return `The browser refused the passkey request (${e.name}).`;
}
