import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { safeEqual } from '../../util/safe-equal.js';
import { deriveKey } from '../keys.js';

/** A TOTP secret at rest: a fresh 96-bit nonce and the AES-256-GCM ciphertext with its tag, both base64url. */
export interface SealedSecret {
  nonce: string;
  ciphertext: string;
}

/**
 * The keys of the second factor, derived from APP_KEY with HKDF (like the signing keys): one seals TOTP
 * secrets (AES-256-GCM, the user id bound as associated data, so a ciphertext copied to another user's
 * row does not open), one hashes emailed codes (HMAC-SHA-256: six digits are too few for a plain hash,
 * which a database dump would reverse in a second). A different APP_KEY opens neither.
 */
export class MfaKeys {
  private readonly sealKey: Buffer;
  private readonly codeKey: Buffer;

  constructor(appKey: string) {
    this.sealKey = Buffer.from(deriveKey(appKey, 'mfa-totp', 'palisade/mfa-totp-secret/v1'));
    this.codeKey = Buffer.from(deriveKey(appKey, 'mfa-email-code', 'palisade/mfa-email-code/v1'));
  }

  /** `purpose` is bound as associated data with the user: a sealed phone number never opens as a TOTP secret. */
  seal(secret: Uint8Array, userId: string, purpose: 'totp' | 'sms' = 'totp'): SealedSecret {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.sealKey, nonce, { authTagLength: 16 });
    c.setAAD(Buffer.from(`${purpose}:${userId}`));
    const body = Buffer.concat([c.update(secret), c.final(), c.getAuthTag()]);
    return { nonce: nonce.toString('base64url'), ciphertext: body.toString('base64url') };
  }

  /** The secret, or null when this key did not seal it for this user (another APP_KEY, altered, moved). */
  open(sealed: SealedSecret, userId: string, purpose: 'totp' | 'sms' = 'totp'): Uint8Array | null {
    const nonce = Buffer.from(sealed.nonce, 'base64url');
    const body = Buffer.from(sealed.ciphertext, 'base64url');
    if (nonce.length !== 12 || body.length <= 16) return null;
    try {
      const d = createDecipheriv('aes-256-gcm', this.sealKey, nonce, { authTagLength: 16 });
      d.setAAD(Buffer.from(`${purpose}:${userId}`));
      d.setAuthTag(body.subarray(body.length - 16));
      return new Uint8Array(Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]));
    } catch {
      return null;
    }
  }

  /** The stored form of an emailed code: bound to its row, so equal codes of two rows hash apart. */
  codeHash(rowId: string, code: string): string {
    return createHmac('sha256', this.codeKey).update(`${rowId}:${code}`).digest('hex');
  }

  codeMatches(rowId: string, code: string, stored: string): boolean {
    return safeEqual(Buffer.from(this.codeHash(rowId, code), 'hex'), Buffer.from(stored, 'hex'));
  }
}
