import type { Db } from '../db/index.js';
import { isRetryableAbort } from '../db/errors.js';
import type { RecordsContext } from './context.js';

/** How many times a write runs before a retryable abort (`isRetryableAbort`) is answered (as a conflict). */
const ATTEMPTS = 3;

/**
 * A record write's transaction. On PostgreSQL two writes can deadlock on rows one holds and the other
 * waits for (D104; the audit chain's head is locked last, inside COMMIT, D464), or a row a write refers
 * to can be deleted by the transaction it waited for; PostgreSQL aborts the write, and it runs again
 * here from the start (every check with it). `fn` must hold no state across runs.
 */
export async function writeTransaction<T>(rc: RecordsContext, fn: (trx: Db) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await rc.db.transaction().execute(fn);
    } catch (e) {
      if (attempt >= ATTEMPTS || !isRetryableAbort(e)) throw e;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
    }
  }
}
