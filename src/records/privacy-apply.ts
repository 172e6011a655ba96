/**
 * GDPR policies (AUDIT-5), the work: deleting or anonymising the records a condition matches, a
 * batch per transaction. Each batch writes its change entries through `recordChanges`, and where the
 * history must go (anonymisation always, deletion with purgeHistory) deletes the records' revisions
 * and destroys their audit keys in the same transaction: the entries stay on the chain, their values
 * become unreadable (crypto-shredding, D100, D130).
 */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Db } from '../db/index.js';
import type { UsersTable } from '../db/types.js';
import type { EventContext } from '../audit/events.js';
import { membersTableOf, tableOf, type CollectionDef } from '../collections/schema.js';
import { audited, recordChanges, snapshot } from './audit.js';
import { dropRecordFiles } from './file-rows.js';
import type { Caller, RecordsContext } from './context.js';
import { anonymise, type AnonValues, type PrivacyAction } from './privacy-rules.js';

/** The records context with the key of anonymisation's keyed hash. */
export interface PrivacyContext extends RecordsContext {
  hashKey: Buffer;
  /**
   * SQLite: empties the write-ahead log once a run has changed records (`DbHandle.scrub`, D458), so that the values
   * it removed or overwrote are not left in the log's old pages; absent on PostgreSQL.
   */
  scrub?: () => Promise<void>;
}

/** What one run changes: the records of `where`, and how. */
export interface Target {
  def: CollectionDef;
  where: RawBuilder<SqlBool>;
  action: PrivacyAction;
  values: AnonValues;
  /** Deletion: also erase the records' logged values and revisions (anonymisation always does). */
  purgeHistory: boolean;
  /** An erasure by user: also unlink this user (user fields, member lists, the creator). */
  unlinkUser?: string;
  /** Leave out records an anonymisation handled that have not changed since (policies). */
  skipAnonymised: boolean;
}

export interface RunResult {
  matched: number;
  changed: number;
  /** The first 100 ids matched (a dry run) or changed. */
  ids: string[];
  /** More records matched than one run handles; the next run goes on. */
  remaining: boolean;
}

const BATCH = 500;
/** Most records one run changes (a request must end); a scheduled policy goes on at its next run. */
export const RUN_MAX = 10_000;
const IDS_SHOWN = 100;

function condition(t: Target): RawBuilder<SqlBool> {
  if (!t.skipAnonymised) return t.where;
  const table = tableOf(t.def.name);
  return sql<SqlBool>`(${t.where} and not exists (select 1 from privacy_anonymised pa where pa.collection = ${t.def.name} and pa.record_id = ${sql.ref(`${table}.id`)} and pa.at >= ${sql.ref(`${table}.updated_at`)}))`;
}

/** How many records match, and the first ids: what a dry run answers. */
export async function preview(db: Db, t: Target): Promise<{ matched: number; ids: string[] }> {
  const table = tableOf(t.def.name);
  const where = condition(t);
  const n = (await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)} where ${where}`.execute(db)).rows[0]?.n ?? 0;
  const ids = (
    await sql<{
      id: string;
    }>`select ${sql.ref(`${table}.id`)} as id from ${sql.table(table)} where ${where} order by ${sql.ref(`${table}.id`)} limit ${IDS_SHOWN}`.execute(db)
  ).rows.map((r) => r.id);
  return { matched: Number(n), ids };
}

/** Applies the target in batches, each in one transaction, up to RUN_MAX records. */
export async function apply(rc: PrivacyContext, ctx: EventContext, t: Target): Promise<RunResult> {
  const table = tableOf(t.def.name);
  const where = condition(t);
  const { matched } = await preview(rc.db, t);
  // The records layer's writers take a caller; only its event context is read (no grants apply here).
  const caller: Caller = { user: { id: ctx.actor.id } as UsersTable, admin: true, roles: [], departments: [], ctx };
  const out: RunResult = { matched, changed: 0, ids: [], remaining: false };
  let last = '';
  try {
    while (out.changed < RUN_MAX) {
      const size = Math.min(BATCH, RUN_MAX - out.changed);
      const done = await rc.db.transaction().execute(async (trx) => {
        const ids = (
          await sql<{
            id: string;
          }>`select ${sql.ref(`${table}.id`)} as id from ${sql.table(table)} where ${where} and ${sql.ref(`${table}.id`)} > ${last} order by ${sql.ref(
            `${table}.id`,
          )} limit ${size}`.execute(trx)
        ).rows.map((r) => r.id);
        if (ids.length === 0) return { ids, changed: [] as string[] };
        const changed = t.action === 'delete' ? await deleteBatch(rc, trx, caller, t, ids) : await anonymiseBatch(rc, trx, caller, t, ids);
        return { ids, changed };
      });
      if (done.ids.length === 0) break;
      last = done.ids[done.ids.length - 1]!;
      out.changed += done.changed.length;
      for (const id of done.changed) if (out.ids.length < IDS_SHOWN) out.ids.push(id);
      if (done.ids.length < size) break;
    }
  } finally {
    // Also after a batch failed: the batches before it have committed.
    if (out.changed > 0) await rc.scrub?.();
  }
  if (out.changed >= RUN_MAX) {
    const more = await sql<{
      id: string;
    }>`select ${sql.ref(`${table}.id`)} as id from ${sql.table(table)} where ${where} and ${sql.ref(`${table}.id`)} > ${last} limit 1`.execute(rc.db);
    out.remaining = more.rows.length > 0;
  }
  return out;
}

async function deleteBatch(rc: PrivacyContext, trx: Db, caller: Caller, t: Target, ids: string[]): Promise<string[]> {
  const table = tableOf(t.def.name);
  const before = audited(t.def) ? await snapshot(trx, t.def, ids) : null;
  // RETURNING: only what this transaction deleted is recorded (a concurrent delete may have won a row).
  const gone = (
    await sql<{ id: string }>`delete from ${sql.table(table)} where ${sql.ref(`${table}.id`)} in (${sql.join(ids)}) returning id`.execute(trx)
  ).rows.map((r) => r.id);
  // The files rows go with their records; the orphan sweep (FileService.collectOrphans) removes their bytes.
  await dropRecordFiles(trx, t.def, gone);
  if (before)
    await recordChanges(
      rc,
      trx,
      caller,
      t.def,
      gone.map((id) => ({ operation: 'delete' as const, id, before: before.get(id) ?? null, after: null })),
    );
  if (t.purgeHistory) await eraseHistory(rc, trx, t.def, gone);
  await trx.deleteFrom('privacy_anonymised').where('collection', '=', t.def.name).where('record_id', 'in', ids).execute();
  return gone;
}

async function anonymiseBatch(rc: PrivacyContext, trx: Db, caller: Caller, t: Target, ids: string[]): Promise<string[]> {
  const table = tableOf(t.def.name);
  const before = await snapshot(trx, t.def, ids);
  const at = rc.now();
  const uid = t.unlinkUser;
  for (const id of ids) {
    const rec = before.get(id);
    if (!rec) continue;
    const { set, empty } = anonymise(t.def, t.values, rec, rc.hashKey);
    if (uid !== undefined) for (const f of t.def.fields) if (f.type === 'user' && rec[f.name] === uid) set[f.name] = null;
    const all: Record<string, unknown> = { ...set, updated_at: at, updated_by: caller.ctx.actor.id };
    await sql`update ${sql.table(table)} set ${sql.join(Object.entries(all).map(([c, v]) => sql`${sql.id(c)} = ${v}`))} where ${sql.ref(`${table}.id`)} = ${id}`.execute(
      trx,
    );
    for (const field of empty) await sql`delete from ${sql.table(membersTableOf(t.def.name, field))} where record_id = ${id}`.execute(trx);
  }
  if (uid !== undefined) {
    await sql`update ${sql.table(table)} set created_by = null where ${sql.ref(`${table}.id`)} in (${sql.join(ids)}) and created_by = ${uid}`.execute(trx);
    for (const f of t.def.fields)
      if (f.type === 'members')
        await sql`delete from ${sql.table(membersTableOf(t.def.name, f.name))} where record_id in (${sql.join(ids)}) and user_id = ${uid}`.execute(trx);
  }
  const done = ids.filter((id) => before.has(id));
  if (audited(t.def)) {
    const after = await snapshot(trx, t.def, done);
    await recordChanges(
      rc,
      trx,
      caller,
      t.def,
      done.map((id) => ({ operation: 'anonymise' as const, id, before: before.get(id) ?? null, after: after.get(id) ?? null })),
    );
  }
  // After the change entries (and the revision of the previous version they add): the history goes.
  await eraseHistory(rc, trx, t.def, done);
  await trx.deleteFrom('privacy_anonymised').where('collection', '=', t.def.name).where('record_id', 'in', done).execute();
  if (done.length > 0)
    await trx
      .insertInto('privacy_anonymised')
      .values(done.map((record_id) => ({ collection: t.def.name, record_id, at })))
      .execute();
  return done;
}

/** Deletes the records' revisions and destroys their audit keys (their logged values become unreadable). */
async function eraseHistory(rc: PrivacyContext, trx: Db, def: CollectionDef, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  for (let i = 0; i < ids.length; i += 200)
    await trx
      .deleteFrom('record_revisions')
      .where('collection', '=', def.name)
      .where('record_id', 'in', ids.slice(i, i + 200))
      .execute();
  await rc.trail.erase(trx, def.name, ids);
}
