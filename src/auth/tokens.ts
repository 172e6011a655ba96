import { SignJWT, compactVerify, decodeProtectedHeader, errors as joseErrors } from 'jose';
import type { KeyRing } from './keys.js';
import { AppError } from '../errors.js';

export const TOKEN_ALGORITHMS = ['HS256'] as const;
const ISSUER = 'palisade';
/** Checked tokens kept per instance: about a client each, a few hundred bytes apiece. */
const VERIFIED_MAX = 10_000;

/** Claims of a session token; times in seconds. */
export interface TokenClaims {
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
}

/**
 * Signs and verifies session tokens. Signing is deterministic for the same claims and kid,
 * so a renewal handed out again inside the grace window is byte-identical.
 */
export class TokenService {
  /**
   * Tokens whose signature and claims this instance has checked, with their claims (bounded, oldest first out). A
   * token is the same bytes at every request of a client: checking its HMAC again through WebCrypto cost a tenth of
   * a secured read (issue 14). The key ring is still asked at each use, so a retired key's tokens stop at once.
   */
  private readonly verified = new Map<string, { claims: TokenClaims; kid: string }>();

  /**
   * `audience`: this deployment's own `aud` claim, its PUBLIC_URL (V9.2.3, D370). A token made for another
   * deployment (a copy of this one's keys: a restored backup, a shared APP_KEY) or before this claim existed
   * (the constant `palisade-api`) is TOKEN_INVALID like any other bad token.
   */
  constructor(
    private readonly keys: KeyRing,
    private readonly audience: string,
  ) {
    if (audience.length === 0) throw new TypeError('TokenService: the audience must not be empty');
  }

  async currentKid(): Promise<string> {
    return (await this.keys.current()).kid;
  }

  async sign(c: TokenClaims, kid?: string): Promise<{ token: string; kid: string }> {
    const k = kid ? { kid, key: await this.keys.forVerify(kid, Infinity) } : await this.keys.current();
    if (!k.key) throw new Error('signing key vanished');
    const payload = { iss: ISSUER, aud: this.audience, sub: c.sub, sid: c.sid, jti: c.jti, iat: c.iat, exp: c.exp };
    const token = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: k.kid, typ: 'JWT' }).sign(k.key);
    return { token, kid: k.kid };
  }

  /**
   * Checks the signature (HS256 only, key from the ring) and the claims' shape, but not the
   * expiry: the caller decides between "valid", "renewable" and "expired".
   */
  async verifySignature(token: string, maxTokenAgeMs: number): Promise<{ claims: TokenClaims; kid: string }> {
    if (token.length > 4096) throw new AppError('TOKEN_INVALID', undefined, 'token too long');
    const known = this.verified.get(token);
    if (known) {
      // Checked before; its key is asked again, so a retired key's tokens stop at once.
      if (!(await this.keys.forVerify(known.kid, maxTokenAgeMs))) throw new AppError('TOKEN_INVALID', undefined, 'unknown or retired key id');
      return known;
    }
    let kid: string;
    try {
      const header = decodeProtectedHeader(token);
      if (typeof header.kid !== 'string' || header.typ !== 'JWT') throw new Error('header');
      kid = header.kid;
    } catch {
      throw new AppError('TOKEN_INVALID', undefined, 'malformed header');
    }
    const key = await this.keys.forVerify(kid, maxTokenAgeMs);
    if (!key) throw new AppError('TOKEN_INVALID', undefined, 'unknown or retired key id');
    let raw: Uint8Array;
    try {
      raw = (await compactVerify(token, key, { algorithms: [...TOKEN_ALGORITHMS] })).payload;
    } catch (e) {
      const why = e instanceof joseErrors.JOSEAlgNotAllowed ? 'algorithm not allowed' : 'bad signature or format';
      throw new AppError('TOKEN_INVALID', undefined, why);
    }
    let p: Record<string, unknown>;
    try {
      p = JSON.parse(new TextDecoder().decode(raw)) as Record<string, unknown>;
    } catch {
      throw new AppError('TOKEN_INVALID', undefined, 'payload not JSON');
    }
    const str = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 128;
    const int = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
    // Same public code as every other bad token: the answer says nothing of which claim failed (no oracle).
    if (p.aud !== this.audience) throw new AppError('TOKEN_INVALID', undefined, 'another audience');
    if (p.iss !== ISSUER || !str(p.sub) || !str(p.sid) || !str(p.jti) || !int(p.iat) || !int(p.exp)) {
      throw new AppError('TOKEN_INVALID', undefined, 'claims');
    }
    const checked = Object.freeze({
      claims: Object.freeze({ sub: p.sub as string, sid: p.sid as string, jti: p.jti as string, iat: p.iat as number, exp: p.exp as number }),
      kid,
    });
    if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, checked);
    return checked;
  }
}
