/**
 * The WebAuthn library (`@simplewebauthn/server`), loaded on first use: it and its certificate parsers take a
 * noticeable part of the server's start, and most installations never run a passkey ceremony.
 */
let loaded: Promise<typeof import('@simplewebauthn/server')> | undefined;
export const webauthn = (): Promise<typeof import('@simplewebauthn/server')> => {
  loaded ??= import('@simplewebauthn/server');
  return loaded;
};

/** base64url of bytes, and back: what WebAuthn's JSON forms carry. */
export const toBase64Url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
export const fromBase64Url = (text: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(text, 'base64url'));
