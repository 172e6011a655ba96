import { createHash, randomBytes } from 'node:crypto';
import { safeEqual } from '../util/safe-equal.js';

/**
 * A single-use token of the form `<selector>.<verifier>` (reset and invitation links, second-factor
 * challenges, enrolment tokens): 128 random bits that name the row, then 256 random bits of which only
 * the SHA-256 is stored. The row is found by the selector and the verifier compared in constant time,
 * so neither a database read nor the lookup's timing reveals a usable token.
 */
const FORMAT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const digest = (verifier: string): Buffer => createHash('sha256').update(verifier, 'utf8').digest();
const DUMMY = digest('dummy');

/** A new token: `id` names its row, `verifierHash` (hex) is all that is stored of the secret part. */
export function newSplitToken(): { id: string; token: string; verifierHash: string } {
  const id = randomBytes(16).toString('base64url');
  const verifier = randomBytes(32).toString('base64url');
  return { id, token: `${id}.${verifier}`, verifierHash: digest(verifier).toString('hex') };
}

/** The selector and verifier of a well-formed token; null for anything else. */
export function parseSplitToken(token: string): { id: string; verifier: string } | null {
  const m = FORMAT.exec(token);
  return m ? { id: m[1]!, verifier: m[2]! } : null;
}

/** Whether `verifier` matches the stored hash; compares against a dummy when there is no row, in the same time. */
export function verifierMatches(storedHashHex: string | undefined, verifier: string): boolean {
  const got = digest(verifier);
  const want = storedHashHex === undefined ? DUMMY : Buffer.from(storedHashHex, 'hex');
  return safeEqual(want, got);
}
