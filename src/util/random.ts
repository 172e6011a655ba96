import { randomFillSync } from 'node:crypto';

/**
 * Cryptographically secure random bytes from a buffered pool, as Node's own `randomUUID` does: one
 * call into the CSPRNG fills 4 KB, and each caller gets its bytes copied out, the pool's copy wiped.
 * For the many small values a write needs (keys and IVs of the audit trail), where a call into the
 * CSPRNG each costs more than the encryption (D160).
 */
const POOL = 4096;
const pool = Buffer.alloc(POOL);
let offset = POOL;

export function secureRandom(n: number): Buffer {
  if (n > POOL / 4) return randomFillSync(Buffer.alloc(n));
  if (offset + n > POOL) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.allocUnsafe(n);
  pool.copy(out, 0, offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
