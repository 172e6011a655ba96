/** Bulk update and bulk delete by filter: all or nothing, under the same plans as single writes. */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Db } from '../db/index.js';
import { AppError } from '../errors.js';
import { tableOf } from '../collections/schema.js';
import { outsideScope, refuseUniqueOutsideView, scopeOf, unwritable, writable, type Plan } from '../access/plan.js';
import { columnsOf } from './codec.js';
import { dropRecordFiles } from './file-rows.js';
import { plan, userFilter } from './planning.js';
import { refuseUnreachable, unreachable } from './write.js';
import { writeTransaction } from './transaction.js';
import { BULK_MAX, type Caller, type RecordsContext } from './context.js';
import { audited, recordChanges, snapshot } from './audit.js';

/**
 * The ids of the records in scope of the plan that match a compiled filter, at most `max`. The filter
 * is compiled before the transaction opens: relation paths read other collections' grants, and on
 * SQLite the one connection belongs to the transaction.
 */
export async function idsInScope(trx: Db, p: Plan, filter: RawBuilder<SqlBool>, max: number): Promise<string[]> {
  const t = tableOf(p.def.name);
  const where = sql.join([scopeOf(p), filter], sql` and `);
  const rows = (
    await sql<{ id: string }>`select ${sql.ref(`${t}.id`)} as id from ${sql.table(t)} where ${where} order by ${sql.ref(`${t}.id`)} limit ${max + 1}`.execute(
      trx,
    )
  ).rows;
  if (rows.length > max) throw new AppError('VALIDATION_FAILED', [{ path: '/filter', message: `matches more than ${max} records; narrow it` }]);
  return rows.map((r) => r.id);
}

/** Bulk delete by filter, under the delete grants; all or nothing. */
export async function bulkDelete(rc: RecordsContext, caller: Caller, collection: string, filter: unknown): Promise<number> {
  const p = await plan(rc, caller, collection, 'delete');
  const where = await userFilter(rc, caller, p, filter);
  let keys: string[] = [];
  const n = await writeTransaction(rc, async (trx) => {
    const ids = await idsInScope(trx, p, where, BULK_MAX);
    const t = tableOf(p.def.name);
    if (ids.length === 0) return 0;
    keys = await dropRecordFiles(trx, p.def, ids);
    const before = audited(p.def) ? await snapshot(trx, p.def, ids, true) : null;
    for (let i = 0; i < ids.length; i += 500)
      await sql`delete from ${sql.table(t)} where ${sql.ref(`${t}.id`)} in (${sql.join(ids.slice(i, i + 500))})`.execute(trx);
    if (before)
      await recordChanges(
        rc,
        trx,
        caller,
        p.def,
        ids.filter((id) => before.has(id)).map((id) => ({ operation: 'delete' as const, id, before: before.get(id) ?? null, after: null })),
      );
    return ids.length;
  });
  rc.files?.removeLater(keys);
  return n;
}

/**
 * Bulk update by filter, under the update grants: every matched record must allow the fields
 * before the change and still lie inside those grants after it, or nothing changes.
 */
export async function bulkUpdate(rc: RecordsContext, caller: Caller, collection: string, filter: unknown, set: unknown): Promise<number> {
  const p = await plan(rc, caller, collection, 'update');
  const { values, members, keys } = columnsOf(p.def, set, false, p.bypass ? undefined : p.known);
  if (members.size > 0) throw new AppError('VALIDATION_FAILED', [{ path: '/set', message: 'member lists are changed one record at a time' }]);
  refuseUniqueOutsideView(p, values);
  refuseUnreachable(p.def, set, await unreachable(rc, caller, p, [set]));
  const candidates = p.bypass ? [] : writable(p, keys);
  if (!p.bypass && candidates.length === 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: unwritable(p, p.grants, keys) });
  const narrowed: Plan = p.bypass ? p : { ...p, grants: candidates };
  const where = await userFilter(rc, caller, narrowed, filter);
  return writeTransaction(rc, async (trx) => {
    const ids = await idsInScope(trx, narrowed, where, BULK_MAX);
    if (ids.length === 0) return 0;
    const t = tableOf(p.def.name);
    const assignments = Object.entries({ ...values, updated_at: rc.now(), updated_by: caller.user.id }).map(([c, v]) => sql`${sql.id(c)} = ${v}`);
    const before = audited(p.def) ? await snapshot(trx, p.def, ids, true) : null;
    await sql`update ${sql.table(t)} set ${sql.join(assignments)} where ${sql.ref(`${t}.id`)} in (${sql.join(ids)})`.execute(trx);
    if (!p.bypass) {
      const outside = await sql<{
        n: number;
      }>`select count(*) as n from ${sql.table(t)} where ${sql.ref(`${t}.id`)} in (${sql.join(ids)}) and ${outsideScope(narrowed)}`.execute(trx);
      if (Number(outside.rows[0]?.n ?? 0) > 0) throw new AppError('FORBIDDEN', undefined, "the change would move records out of the caller's grants");
    }
    if (before) {
      const after = await snapshot(trx, p.def, ids);
      await recordChanges(
        rc,
        trx,
        caller,
        p.def,
        ids
          .filter((id) => before.has(id) && after.has(id))
          .map((id) => ({ operation: 'update' as const, id, before: before.get(id) ?? null, after: after.get(id) ?? null })),
      );
    }
    return ids.length;
  });
}
