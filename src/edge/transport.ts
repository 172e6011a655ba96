/**
 * Encrypted API bodies (EDGE-6; the protocol is in docs/edge.md, "Encrypted API bodies"): the server's
 * key-agreement keys, opening a request's compact JWE and sealing an answer. Pure of HTTP: the pipeline
 * (src/http/pipeline/transport.ts) calls it with the method, the target and the clock.
 *
 * Keys are P-256 ECDH-ES keys derived from APP_KEY and a key id of the signing key ring (like the token
 * keys: nothing is stored), so `palisade keys rotate` rotates them too and a new APP_KEY changes them all.
 */
import { createCipheriv, createECDH, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { compactDecrypt } from 'jose';
import { AppError } from '../errors.js';
// The protocol's names are defined once, in the client shipped to other clients (it imports nothing of the server).
import { ANSWER_ALG, ANSWER_INFO, JWE_ALG, JWE_ENC, type TransportKey } from '../client/transport.js';

export { ANSWER_ALG, ANSWER_INFO, JWE_ALG, JWE_ENC };

/** How far a request's `iat` may be from the server's clock, either way, in seconds. */
export const TRANSPORT_MAX_SKEW = 60;
/** A retired key still opens requests this long after a rotation, so clients that cached it are not cut off mid-flight. */
export const TRANSPORT_KEY_GRACE_MS = 10 * 60 * 1000;
/** The longest protected header accepted, in base64url characters (a real one is about 330). */
export const MAX_PROTECTED_HEADER = 1024;

/**
 * The longest compact JWE that holds a plaintext of `bytes`: the longest header, four dots, the 96-bit IV and the
 * 128-bit tag, and the ciphertext in base64url (A256GCM adds nothing to its length, so about 4/3 of the plaintext).
 * A raw upload's route takes this much for a JWE of its largest file.
 */
export function sealedLength(bytes: number): number {
  return MAX_PROTECTED_HEADER + 4 + 16 + 22 + Math.ceil((bytes * 4) / 3) + 8;
}
/** The protected header's members a request may carry: nothing else (no `zip`, `crit`, `jku`, `jwk`, `x5u`, `cty`...). */
const REQUEST_HEADER_KEYS = new Set(['alg', 'enc', 'kid', 'epk', 'iat', 'htm', 'htu']);
const KID_PREFIX = 'tk_';
/** P-256's order n: a private scalar is reduced into [1, n-1]. */
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const B64URL = /^[A-Za-z0-9_-]*$/;
const COORD = /^[A-Za-z0-9_-]{43}$/;

/** A public P-256 key as the server publishes it (GET /api/transport/key): the client's own type. */
export type PublicTransportKey = TransportKey;

/** What the key ring offers (src/auth/keys.ts): the newest key id, and whether an id may still be used. */
export interface KeyIds {
  current(): Promise<{ kid: string }>;
  forVerify(kid: string, maxAgeMs: number): Promise<unknown>;
}

/** The P-256 key pair of one ring key id: HKDF-SHA256(APP_KEY, salt = kid, info "palisade/transport-key/v1"). */
export function deriveTransportKey(appKey: string, ringKid: string): { privateKey: KeyObject; publicJwk: PublicTransportKey } {
  // 48 bytes reduced modulo n-1, plus 1: uniform enough (FIPS 186-5 A.2.1) and never zero.
  const okm = Buffer.from(hkdfSync('sha256', appKey, ringKid, 'palisade/transport-key/v1', 48));
  const scalar = (BigInt(`0x${okm.toString('hex')}`) % (P256_N - 1n)) + 1n;
  const d = Buffer.from(scalar.toString(16).padStart(64, '0'), 'hex');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey();
  const x = pub.subarray(1, 33).toString('base64url');
  const y = pub.subarray(33, 65).toString('base64url');
  const privateKey = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x, y, d: d.toString('base64url') }, format: 'jwk' });
  return { privateKey, publicJwk: { kty: 'EC', crv: 'P-256', x, y, kid: `${KID_PREFIX}${ringKid}`, alg: JWE_ALG, use: 'enc' } };
}

/** The server's transport keys, one per ring key id, derived once each. */
export class TransportKeys {
  private readonly derived = new Map<string, ReturnType<typeof deriveTransportKey>>();
  constructor(
    private readonly appKey: string,
    private readonly ring: KeyIds,
  ) {}

  private of(ringKid: string) {
    let k = this.derived.get(ringKid);
    if (!k) {
      k = deriveTransportKey(this.appKey, ringKid);
      this.derived.set(ringKid, k);
    }
    return k;
  }

  /** The key clients encrypt to: the newest ring key's. */
  async published(): Promise<PublicTransportKey> {
    return this.of((await this.ring.current()).kid).publicJwk;
  }

  /** The private key of a published kid, or null when it is unknown or retired longer than the grace. */
  async forKid(kid: string): Promise<KeyObject | null> {
    if (!kid.startsWith(KID_PREFIX)) return null;
    const ringKid = kid.slice(KID_PREFIX.length);
    if ((await this.ring.forVerify(ringKid, TRANSPORT_KEY_GRACE_MS)) === null) return null;
    return this.of(ringKid).privateKey;
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** A public P-256 JWK with exactly kty, crv, x, y (and nothing private), or null. */
export function publicP256(v: unknown): { kty: 'EC'; crv: 'P-256'; x: string; y: string } | null {
  if (!isPlainObject(v)) return null;
  const keys = Object.keys(v);
  if (keys.length !== 4 || v.kty !== 'EC' || v.crv !== 'P-256' || typeof v.x !== 'string' || typeof v.y !== 'string') return null;
  if (!COORD.test(v.x) || !COORD.test(v.y)) return null;
  return { kty: 'EC', crv: 'P-256', x: v.x, y: v.y };
}

/**
 * What an answer is sealed with: the static agreement of the server key with the client's ephemeral key (only the
 * client and the server know it) and the client's point, for the answer's own ephemeral agreement.
 */
export interface AnswerKey {
  zStatic: Buffer;
  clientPoint: Buffer;
}

/** Imports a client's public key; a point off the curve is refused (OpenSSL checks it). */
export function importClientKey(jwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string }): KeyObject | null {
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return null;
  }
}

/** The static half of a request's answer key (D177): the server key's agreement with the client's ephemeral key. */
export function answerKey(serverKey: KeyObject, clientKey: KeyObject): AnswerKey {
  const jwk = clientKey.export({ format: 'jwk' });
  const clientPoint = Buffer.concat([Buffer.from([4]), Buffer.from(String(jwk.x), 'base64url'), Buffer.from(String(jwk.y), 'base64url')]);
  return { zStatic: diffieHellman({ privateKey: serverKey, publicKey: clientKey }), clientPoint };
}

/**
 * The key an answer is sealed with (D177): HKDF-SHA256(Z_e ‖ Z_s, empty salt, info "palisade/answer/v1", 32 bytes),
 * Z_e the agreement of the answer's own ephemeral key (its `epk`) with the client's, Z_s the server key's with the
 * client's. Z_s makes it the server's alone (authenticated: the client's public key is not enough); Z_e keeps
 * recorded answers closed to whoever later learns APP_KEY (its private half is discarded).
 */
export function answerCek(zEphemeral: Buffer, zStatic: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.concat([zEphemeral, zStatic]), Buffer.alloc(0), ANSWER_INFO, 32));
}

/**
 * The `palisade-response-key` header: base64url of the JSON of the client's public P-256 key and the `kid` of the
 * server key it agrees with (`{kty, crv, x, y, kid}`, nothing else).
 */
export function parseResponseKeyHeader(value: string): { key: KeyObject; kid: string } {
  const fail = (why: string) => new AppError('TRANSPORT_RESPONSE_KEY_INVALID', undefined, why);
  if (value.length > 400 || !B64URL.test(value)) throw fail('not base64url or too long');
  let jwk: unknown;
  try {
    jwk = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw fail('not JSON');
  }
  if (!isPlainObject(jwk) || typeof jwk.kid !== 'string' || jwk.kid.length === 0 || jwk.kid.length > 100) throw fail('kid missing');
  const { kid, ...rest } = jwk;
  const pub = publicP256(rest);
  const key = pub && importClientKey(pub);
  if (!key) throw fail('not a public P-256 key');
  return { key, kid };
}

export interface RequestBinding {
  method: string;
  /** The request target as received: path and query. */
  target: string;
  /** The server clock, in ms. */
  now: number;
}

/**
 * Refuses a second use of an encrypted request body. A body is opened only within TRANSPORT_MAX_SKEW of its `iat`,
 * so the tag of each body opened is kept that long (twice, for clocks on either side) in the state all instances
 * share; a copy sent again, to any instance, finds it there. Only bodies that decrypted are recorded: nobody can
 * fill the store with tags of bodies they could not make.
 */
export class ReplayGuard {
  constructor(private readonly shared: { setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> }) {}

  async firstUse(tag: string): Promise<boolean> {
    return this.shared.setIfAbsent(`transport:seen:${tag}`, '1', (2 * TRANSPORT_MAX_SKEW + 5) * 1000);
  }
}

export interface OpenedRequest {
  plaintext: Uint8Array;
  /** The body's authentication tag: unique to this encryption, the key of the replay guard. */
  tag: string;
  /** The key the answer is sealed with: from the agreement of this body's `epk` with the server key. */
  answerKey: AnswerKey;
}

/**
 * Opens a compact JWE request body: shape and sizes first, then the protected header against the allow-list,
 * the key id, and the binding to this request (method, target, time); only then the decryption, whose
 * authentication tag refuses any changed byte. Every refusal is a typed 4xx.
 */
export async function openRequest(jwe: string, keys: TransportKeys, b: RequestBinding): Promise<OpenedRequest> {
  const invalid = (why: string) => new AppError('TRANSPORT_BODY_INVALID', undefined, why);
  const parts = jwe.trim().split('.');
  if (parts.length !== 5) throw invalid('not a compact JWE');
  const [head, encryptedKey, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  if (!parts.every((p) => B64URL.test(p))) throw invalid('not base64url');
  if (head.length === 0 || head.length > MAX_PROTECTED_HEADER) throw invalid('protected header missing or too long');
  // ECDH-ES is direct key agreement: no encrypted key; A256GCM: a 96-bit IV and a 128-bit tag.
  if (encryptedKey !== '' || iv.length !== 16 || tag.length !== 22 || ciphertext.length === 0) throw invalid('wrong part sizes');
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'));
  } catch {
    throw invalid('protected header is not JSON');
  }
  if (!isPlainObject(header)) throw invalid('protected header is not an object');
  const extra = Object.keys(header).filter((k) => !REQUEST_HEADER_KEYS.has(k));
  if (extra.length > 0) throw invalid(`header members not allowed: ${extra.slice(0, 5).join(',').slice(0, 100)}`);
  if (header.alg !== JWE_ALG || header.enc !== JWE_ENC) throw invalid('alg or enc not allowed');
  const epk = publicP256(header.epk);
  if (!epk) throw invalid('epk is not a public P-256 key');
  if (typeof header.kid !== 'string' || header.kid.length > 100) throw invalid('kid missing');
  if (typeof header.iat !== 'number' || !Number.isSafeInteger(header.iat)) throw invalid('iat missing');
  if (typeof header.htm !== 'string' || typeof header.htu !== 'string') throw invalid('htm or htu missing');
  const key = await keys.forKid(header.kid);
  if (!key) throw new AppError('TRANSPORT_KEY_UNKNOWN', undefined, `kid ${header.kid.slice(0, 80)}`);
  const mismatch = (reason: string) => new AppError('TRANSPORT_BODY_MISMATCH', { reason }, reason);
  if (header.htm !== b.method) throw mismatch('method');
  if (header.htu !== b.target) throw mismatch('target');
  if (Math.abs(Math.floor(b.now / 1000) - header.iat) > TRANSPORT_MAX_SKEW) throw mismatch('time');
  try {
    const { plaintext } = await compactDecrypt(jwe.trim(), key, { keyManagementAlgorithms: [JWE_ALG], contentEncryptionAlgorithms: [JWE_ENC] });
    const clientKey = importClientKey(epk);
    if (!clientKey) throw new Error('epk');
    return { plaintext, tag, answerKey: answerKey(key, clientKey) };
  } catch {
    // A changed byte anywhere, a key other than the kid's, a point off the curve: one answer for all.
    throw invalid('decryption failed');
  }
}

/**
 * Seals an answer as a compact JWE with `alg` `dir` and `enc` `A256GCM` under answerCek, with a fresh ephemeral key
 * per answer (its public half is the header's `epk`); `cty` keeps the answer's own content type, `htm` and `htu` name
 * the request (the header is the GCM additional data). Done with node:crypto; the tests open every answer with jose.
 */
export function sealAnswer(body: Uint8Array, key: AnswerKey, h: { cty: string; method: string; target: string; now: number }): string {
  const ephemeral = createECDH('prime256v1');
  const point = ephemeral.generateKeys();
  const cek = answerCek(ephemeral.computeSecret(key.clientPoint), key.zStatic);
  const epk = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') };
  const header = { alg: ANSWER_ALG, enc: JWE_ENC, epk, cty: h.cty, iat: Math.floor(h.now / 1000), htm: h.method, htu: h.target };
  const head = Buffer.from(JSON.stringify(header)).toString('base64url');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', cek, iv);
  cipher.setAAD(Buffer.from(head, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(body), cipher.final()]);
  return `${head}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}
