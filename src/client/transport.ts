/**
 * The client side of Palisade's encrypted API bodies (EDGE-6; the protocol: docs/edge.md, "Encrypted API
 * bodies"). One implementation for every client: the admin UI (ui/src/lib/api.ts), the tests, the benchmark,
 * and other Node or browser clients (built to dist/client/transport.js). It imports only `jose`, which uses
 * WebCrypto, so it runs in a browser page under a strict CSP (no eval, no wasm) and on Node 20.
 *
 *   const key = keyDocument(await (await fetch(`${base}/api/transport/key`)).json()).keys[0];
 *   const sealed = await seal(key, 'POST', '/api/collections/notes/records', { title: 'hi' });
 *   const res = await fetch(`${base}/api/collections/notes/records`, { method: 'POST', headers: { ...sealed.headers, authorization }, body: sealed.body });
 *   const { text } = await sealed.open({ status: res.status, contentType: res.headers.get('content-type'), body: await res.text() });
 *
 * A binary body (a Uint8Array or an ArrayBuffer: a file upload) is sealed as its bytes, anything else as JSON; an
 * opened answer gives its plaintext as `bytes` (a file download) and as UTF-8 `text`.
 */
import { base64url, CompactEncrypt, compactDecrypt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';

export const JOSE = 'application/jose';
export const RESPONSE_KEY_HEADER = 'palisade-response-key';
export const TRANSPORT_KEY_PATH = '/api/transport/key';
export const JWE_ALG = 'ECDH-ES';
export const JWE_ENC = 'A256GCM';
/** Answers are `dir` + A256GCM under the answer key (D177). */
export const ANSWER_ALG = 'dir';
export const ANSWER_INFO = 'palisade/answer/v1';

export type TransportMode = 'off' | 'optional' | 'required';

/** The server's key, as GET /api/transport/key publishes it. */
export interface TransportKey {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: typeof JWE_ALG;
  use: 'enc';
}

export interface KeyDocument {
  mode: TransportMode;
  keys: TransportKey[];
}

/** Checks GET /api/transport/key's answer; throws on anything else. */
export function keyDocument(json: unknown): KeyDocument {
  const d = json as { mode?: unknown; keys?: unknown };
  if (typeof d !== 'object' || d === null || !['off', 'optional', 'required'].includes(d.mode as string) || !Array.isArray(d.keys)) {
    throw new Error('transport: not a key document');
  }
  const keys = (d.keys as Array<Record<string, unknown>>).filter(
    (k) =>
      k.kty === 'EC' &&
      k.crv === 'P-256' &&
      k.alg === JWE_ALG &&
      k.use === 'enc' &&
      typeof k.kid === 'string' &&
      typeof k.x === 'string' &&
      typeof k.y === 'string',
  ) as unknown as TransportKey[];
  if (d.mode !== 'off' && keys.length === 0) throw new Error('transport: the key document has no usable key');
  return { mode: d.mode as TransportMode, keys };
}

export interface SealOptions {
  /** The clock, in ms (tests move it); `iat` is its second. Default Date.now. */
  now?: () => number;
}

export interface Answer {
  status: number;
  contentType: string | null;
  body: string;
}

export interface OpenedAnswer {
  /** The answer's own content type (the JWE's `cty`), or the plain answer's. */
  contentType: string;
  /** The plaintext as UTF-8 text (JSON, CSV, an error envelope). */
  text: string;
  /** The plaintext's bytes, as sent: what to save for a file download (`text` would corrupt binary data). */
  bytes: Uint8Array;
  /** True when the answer came sealed; false for a 204, a HEAD answer or a listed plain error (PLAIN_ERRORS). */
  sealed: boolean;
}

/**
 * The error codes a server may answer in plain to a request that asked for a sealed answer: those of the
 * stages that run before it knows the client's key (the drain, the URL and header bounds, the edge, the
 * transport stage's own refusals, a body too large or of another type, and, for a request whose key is its
 * JWE body's `epk`, the authentication stage, which runs before the body is read). Any other plain answer is
 * refused, and so is every plain 2xx or 3xx with a body. A 5xx error envelope is accepted whatever its code.
 * These answers carry no data of the request and, unlike sealed ones, nothing authenticates them (D177, D202).
 */
export const PLAIN_ERRORS: ReadonlySet<string> = new Set([
  'BAD_REQUEST',
  'URL_INVALID',
  'URL_TOO_LONG',
  'REQUEST_TIMEOUT',
  'HEADERS_TOO_LARGE',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'SHUTTING_DOWN',
  'SERVER_BUSY',
  'SERVICE_UNAVAILABLE',
  'STORAGE_UNAVAILABLE',
  'IP_BLOCKED',
  'HTTPS_REQUIRED',
  'RATE_LIMITED',
  'CORS_ORIGIN_REFUSED',
  'NOT_FOUND',
  'TRANSPORT_ENCRYPTION_REQUIRED',
  'TRANSPORT_ENCRYPTION_OFF',
  'TRANSPORT_BODY_INVALID',
  'TRANSPORT_BODY_MISMATCH',
  'TRANSPORT_KEY_UNKNOWN',
  'TRANSPORT_RESPONSE_KEY_INVALID',
  'TRANSPORT_ANSWER_TOO_LARGE',
  'AUTH_REQUIRED',
  'INVALID_CREDENTIALS',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'TOKEN_REUSED',
  'SESSION_ENDED',
  'SESSION_REQUIRED',
  'API_KEY_INVALID',
  'API_KEY_ADDRESS_REFUSED',
  'API_KEY_READ_ONLY',
  'INSECURE_TRANSPORT',
  'XSRF_TOKEN_INVALID',
  'FORBIDDEN',
  'ACCOUNT_LOCKED',
  'PASSWORD_EXPIRED',
  'PASSWORD_CHANGE_REQUIRED',
  'PRIVILEGE_ESCALATION',
  'ROLE_NOT_HELD',
  'CANNOT_MODIFY_SELF',
]);

/** The code of a plain JSON error envelope, or null. */
function plainErrorCode(answer: Answer): string | null {
  if (!mediaType(answer.contentType).endsWith('json')) return null;
  try {
    const code = (JSON.parse(answer.body) as { error?: { code?: unknown } } | null)?.error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

export interface Sealed {
  /** Accept, and Content-Type with a body or the response key without one: add them to the request. */
  headers: Record<string, string>;
  /** The compact JWE to send as the body (only when a body was given). */
  body?: string;
  /** Opens the server's answer to this request. A plain answer is refused unless it is a 204, a HEAD answer or a listed error. */
  open(answer: Answer): Promise<OpenedAnswer>;
}

const mediaType = (v: string | null): string => (v ?? '').split(';')[0]!.trim().toLowerCase();

const agree = async (jwk: { x?: unknown; y?: unknown }, privateKey: CryptoKey): Promise<Uint8Array> => {
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new Error('transport: not a P-256 public key');
  const pub = (await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, JWE_ALG)) as CryptoKey;
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: pub }, privateKey, 256));
};

/**
 * The key of one answer (D177): HKDF-SHA256(Z_e ‖ Z_s, empty salt, info "palisade/answer/v1", 32 bytes), Z_e the
 * agreement of our ephemeral private key with the answer's `epk`, Z_s with the server's transport key. Only the
 * server (its private key) can make Z_s besides us, so an answer that opens was sealed by the server.
 */
export async function answerKeyOf(server: TransportKey, privateKey: CryptoKey, answerEpk: { x?: unknown; y?: unknown }): Promise<Uint8Array> {
  const ze = await agree(answerEpk, privateKey);
  const zs = await agree(server, privateKey);
  const ikm = await crypto.subtle.importKey('raw', new Uint8Array([...ze, ...zs]), 'HKDF', false, ['deriveBits']);
  const info = new TextEncoder().encode(ANSWER_INFO);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info }, ikm, 256));
}

/** The plaintext of a request body: a binary body's own bytes (a file), anything else as UTF-8 JSON. */
function plaintextOf(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return new TextEncoder().encode(JSON.stringify(body));
}

/**
 * Seals one request. A fresh P-256 key pair per request: with a body it is the JWE's `epk`, without one its public
 * half goes in the palisade-response-key header with the server key's `kid`; the answer is sealed under the key of
 * its agreement with the server key (answerKeyOf). `target` is the path and query exactly as sent
 * (`/api/collections/notes/records?limit=5`): the server compares it. `body`: a Uint8Array or an ArrayBuffer is sealed
 * as those bytes (a file upload, to a route that takes raw bytes), anything else as its JSON.
 */
export async function seal(key: TransportKey, method: string, target: string, body?: unknown, o: SealOptions = {}): Promise<Sealed> {
  const now = o.now ?? Date.now;
  // Our own ephemeral key as the JWE's epk: the answer's key is agreed with it, so we must keep its private half,
  // and jose offers no other way to set or read it than `setKeyManagementParameters({ epk })`, which it marks
  // "for testing and vector validation" (jose 6). The key is a fresh P-256 pair from WebCrypto, used once.
  const pair = await generateKeyPair(JWE_ALG, { crv: 'P-256', extractable: true });
  const headers: Record<string, string> = { accept: JOSE };
  let jwe: string | undefined;
  if (body !== undefined) {
    const serverKey = await importJWK({ kty: key.kty, crv: key.crv, x: key.x, y: key.y }, JWE_ALG);
    jwe = await new CompactEncrypt(plaintextOf(body))
      .setProtectedHeader({ alg: JWE_ALG, enc: JWE_ENC, kid: key.kid, iat: Math.floor(now() / 1000), htm: method, htu: target })
      .setKeyManagementParameters({ epk: pair.privateKey })
      .encrypt(serverKey);
    headers['content-type'] = JOSE;
  } else {
    const { kty, crv, x, y } = await exportJWK(pair.publicKey);
    headers[RESPONSE_KEY_HEADER] = base64url.encode(JSON.stringify({ kty, crv, x, y, kid: key.kid }));
  }

  return {
    headers,
    body: jwe,
    async open(answer: Answer): Promise<OpenedAnswer> {
      if (mediaType(answer.contentType) !== JOSE) {
        // Plain only: a 204 or a HEAD answer (no body), or an error envelope from before the server knew our key.
        const empty = answer.body === '' && (answer.status === 204 || answer.status === 304 || method === 'HEAD');
        const code = answer.status >= 400 ? plainErrorCode(answer) : null;
        if (empty || (code !== null && (PLAIN_ERRORS.has(code) || answer.status >= 500))) {
          return { contentType: answer.contentType ?? '', text: answer.body, bytes: new TextEncoder().encode(answer.body), sealed: false };
        }
        throw new Error('transport: the server answered in plain text although an encrypted answer was asked for');
      }
      // Only `dir` under the answer key: an ECDH-ES answer to our public key, which anyone could make, is refused.
      const head = decodeProtectedHeader(answer.body.trim());
      if (head.alg !== ANSWER_ALG || typeof head.epk !== 'object' || head.epk === null) throw new Error('transport: not an answer of this protocol');
      const cek = await answerKeyOf(key, pair.privateKey as CryptoKey, head.epk as { x?: unknown; y?: unknown });
      const { plaintext, protectedHeader: h } = await compactDecrypt(answer.body.trim(), cek, {
        keyManagementAlgorithms: [ANSWER_ALG],
        contentEncryptionAlgorithms: [JWE_ENC],
      });
      if (h.htm !== method || h.htu !== target) throw new Error('transport: the answer was sealed for another request');
      return { contentType: typeof h.cty === 'string' ? h.cty : '', text: new TextDecoder().decode(plaintext), bytes: plaintext, sealed: true };
    },
  };
}
