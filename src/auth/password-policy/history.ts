import type { Db } from '../../db/index.js';
import type { PasswordHasher } from '../passwords.js';
import { MAX_HISTORY } from './schema.js';
import { voidLinks } from '../reset/tokens.js';

/** Hashes of a user's recent passwords, newest first, the current one included. */
export async function recentHashes(db: Db, userId: string, currentHash: string | null, n: number): Promise<string[]> {
  if (n <= 0) return [];
  const rows = await db.selectFrom('password_history').select('hash').where('user_id', '=', userId).orderBy('id', 'desc').limit(n).execute();
  const hashes = [...(currentHash ? [currentHash] : []), ...rows.map((r) => r.hash)];
  return [...new Set(hashes)].slice(0, n);
}

/** True when the password matches one of the last `n` passwords. Verifies every one: no early exit. */
export async function isReused(db: Db, hasher: PasswordHasher, userId: string, currentHash: string | null, password: string, n: number): Promise<boolean> {
  const hashes = await recentHashes(db, userId, currentHash, n);
  const results = await Promise.all(hashes.map((h) => hasher.verify(h, password)));
  return results.some(Boolean);
}

/**
 * Stores a new password in one transaction's worth of writes: the user row (the expiry clock
 * restarts, a required change is satisfied), the history (pruned to the longest allowed), and every
 * outstanding reset, invitation or change link of the user stops working.
 */
export async function writePassword(trx: Db, userId: string, hash: string, now: number): Promise<void> {
  await trx
    .updateTable('users')
    .set({
      password_hash: hash,
      password_changed_at: now,
      updated_at: now,
      must_change_password: 0,
      must_change_by: null,
      password_reminded_at: null,
    })
    .where('id', '=', userId)
    .execute();
  await trx.insertInto('password_history').values({ user_id: userId, hash, created_at: now }).execute();
  const keep = await trx.selectFrom('password_history').select('id').where('user_id', '=', userId).orderBy('id', 'desc').limit(MAX_HISTORY).execute();
  if (keep.length === MAX_HISTORY) {
    await trx
      .deleteFrom('password_history')
      .where('user_id', '=', userId)
      .where('id', '<', keep[keep.length - 1]!.id)
      .execute();
  }
  await voidLinks(trx, userId, now);
}
