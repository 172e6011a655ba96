import { createHash, randomBytes } from 'node:crypto';

/** The recognisable prefix of every key, so that secret scanners can find leaked ones. */
export const KEY_PREFIX = 'pal_';
/** `pal_` and 64 lower-case hex digits: 256 bits from the CSPRNG. */
export const KEY_PATTERN = /^pal_[0-9a-f]{64}$/;

export function newKeySecret(): string {
  return KEY_PREFIX + randomBytes(32).toString('hex');
}

/**
 * What is stored and looked up: SHA-256 of the whole key. A key holds 256 random bits, so a fast hash
 * is enough (no dictionary to try), and the lookup by hash compares no secret in application code.
 */
export function keyHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
