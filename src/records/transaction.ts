import type { Db } from '../db/index.js';
import { isRetryableAbort } from '../db/errors.js';
import type { RecordsContext } from './context.js';

/** How many times a write runs before a deadlock or serialization failure is answered (as a conflict). */
const ATTEMPTS = 3;

/**
 * A record write's transaction. On PostgreSQL the audit chain's lock is taken at the append, so two
 * writes can deadlock on rows one holds and the other waits for (D104); PostgreSQL aborts one of them,
 * and it runs again here from the start (every check with it). `fn` must hold no state across runs.
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
