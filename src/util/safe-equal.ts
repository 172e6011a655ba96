import { timingSafeEqual } from 'node:crypto';

/**
 * The one comparison of secret values (ASVS V11.2.4): the time taken depends on the length only, never on where the
 * values first differ. Strings are compared as their UTF-8 bytes. Secrets are compared as fixed-length digests or
 * MACs, so the length is public; a length mismatch still runs a comparison of the same size before answering false.
 * `test/util/constant-time.test.ts` refuses `===` on a secret-named value anywhere in src/.
 */
export function safeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const x = typeof a === 'string' ? Buffer.from(a) : a;
  const y = typeof b === 'string' ? Buffer.from(b) : b;
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}
