/** The files rows of records being deleted (DATA-3), dropped in the deletion's transaction. */
import type { Db } from '../db/index.js';
import type { CollectionDef } from '../collections/schema.js';

/** Inside a record deletion's transaction: drops the files rows of records `ids`; returns their keys for after the commit. */
export async function dropRecordFiles(trx: Db, def: CollectionDef, ids: string[]): Promise<string[]> {
  if (!def.fields.some((f) => f.type === 'file') || ids.length === 0) return [];
  const keys: string[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    keys.push(...(await trx.selectFrom('files').select('id').where('collection', '=', def.name).where('record_id', 'in', chunk).execute()).map((r) => r.id));
    await trx.deleteFrom('files').where('collection', '=', def.name).where('record_id', 'in', chunk).execute();
  }
  return keys;
}
