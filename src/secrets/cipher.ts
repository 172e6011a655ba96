import { createCipheriv, createDecipheriv } from 'node:crypto';
import { secureRandom } from '../util/random.js';
import type { DataKey } from './key.js';

/**
 * AES-256-GCM under the data key, the secret's name bound as associated data: a ciphertext copied to
 * another name does not open. Stored as `<iv>.<ciphertext>.<tag>` in base64url, a fresh 96-bit IV each time.
 */
const aad = (name: string) => Buffer.from(`palisade/secret/v1:${name}`, 'utf8');

export function encrypt(key: DataKey, name: string, plain: string): string {
  const iv = secureRandom(12);
  const c = createCipheriv('aes-256-gcm', key.key, iv, { authTagLength: 16 });
  c.setAAD(aad(name));
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `${iv.toString('base64url')}.${body.toString('base64url')}.${c.getAuthTag().toString('base64url')}`;
}

/** The plain text, or null when this key and name do not open it (another key, altered, moved). */
export function decrypt(key: DataKey, name: string, sealed: string): string | null {
  const parts = sealed.split('.');
  if (parts.length !== 3) return null;
  const [iv, body, tag] = parts as [string, string, string];
  try {
    const ivb = Buffer.from(iv, 'base64url');
    const tagb = Buffer.from(tag, 'base64url');
    if (ivb.length !== 12 || tagb.length !== 16) return null;
    const d = createDecipheriv('aes-256-gcm', key.key, ivb, { authTagLength: 16 });
    d.setAAD(aad(name));
    d.setAuthTag(tagb);
    return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
  } catch {
    return null;
  }
}
