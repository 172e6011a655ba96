import { createHash } from 'node:crypto';
import type { Db } from '../../../db/index.js';

/**
 * The assertions already used (`sso_assertions`), kept until they expire so that a captured response cannot be
 * posted again, on this instance or another (D303). The id is stored hashed with the provider's name.
 */
export async function spendAssertion(db: Db, provider: string, id: string, until: number, now: number): Promise<boolean> {
  await db.deleteFrom('sso_assertions').where('expires_at', '<', now).execute();
  const key = createHash('sha256').update(`${provider}\n${id}`, 'utf8').digest('hex');
  const r = await db
    .insertInto('sso_assertions')
    .values({ id: key, provider, expires_at: Math.max(until, now + 60_000), created_at: now })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
}
