import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { secureRandom } from '../util/random.js';

/**
 * Encrypts write-only settings (secrets an administrator enters, such as the reCAPTCHA secret key)
 * at rest: AES-256-GCM under a key derived from APP_KEY, the field's name bound as associated data
 * so a sealed value cannot be moved to another field. A different APP_KEY cannot open them.
 */
export interface Sealer {
  seal(plain: string, field: string): string;
  /** The plain text, or null for a value this key did not seal (another APP_KEY, altered, not sealed). */
  open(sealed: string, field: string): string | null;
}

const PREFIX = 'sealed:v1:';

export function createSealer(appKey: string): Sealer {
  const key = Buffer.from(hkdfSync('sha256', appKey, 'settings', 'palisade/settings-seal/v1', 32));
  return {
    seal(plain, field) {
      const iv = secureRandom(12);
      const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
      c.setAAD(Buffer.from(field));
      const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return `${PREFIX}${iv.toString('base64url')}.${body.toString('base64url')}.${c.getAuthTag().toString('base64url')}`;
    },
    open(sealed, field) {
      if (!sealed.startsWith(PREFIX)) return null;
      const [iv, body, tag] = sealed.slice(PREFIX.length).split('.');
      if (iv === undefined || body === undefined || tag === undefined) return null;
      try {
        const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
        d.setAAD(Buffer.from(field));
        d.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
      } catch {
        return null;
      }
    },
  };
}
