/**
 * What record writes give the audit trail (AUDIT-3, AUDIT-4): every create, change and delete, read
 * inside the write's transaction before and after it, goes to `AuditTrail.changes` (change and status
 * entries) and, where the collection keeps revisions, the previous version to `record_revisions`.
 * A rolled-back write takes its entries with it; a committed one always has them.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import { auditOptionsOf, isSecretField, membersTableOf, tableOf, type CollectionDef } from '../collections/schema.js';
import type { RecordChange, TrailField } from '../audit/trail.js';
import { decode } from './codec.js';
import type { Caller, RecordsContext } from './context.js';

/** Whether a write on `def` has anything to record (a change log, status fields or revisions). */
export function audited(def: CollectionDef): boolean {
  const o = auditOptionsOf(def);
  return o.changeLog || o.revisions || def.fields.some((f) => f.type === 'status');
}

/** The records `ids` of `def` as clients see their fields (every field, hidden ones included), read in `trx`. */
export async function snapshot(trx: Db, def: CollectionDef, ids: string[]): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  if (ids.length === 0) return out;
  const t = tableOf(def.name);
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(t)} where ${sql.ref(`${t}.id`)} in (${sql.join(chunk)})`.execute(trx)).rows;
    for (const row of rows) {
      const rec: Record<string, unknown> = {};
      for (const f of def.fields) if (f.type !== 'members') rec[f.name] = decode(f, row[f.name]);
      out.set(String(row.id), rec);
    }
    for (const f of def.fields) {
      if (f.type !== 'members') continue;
      for (const id of chunk) {
        const rec = out.get(id);
        if (rec) rec[f.name] = [];
      }
      const got = await sql<{
        record_id: string;
        user_id: string;
      }>`select record_id, user_id from ${sql.table(membersTableOf(def.name, f.name))} where record_id in (${sql.join(chunk)}) order by user_id`.execute(trx);
      for (const r of got.rows) (out.get(r.record_id)?.[f.name] as string[] | undefined)?.push(r.user_id);
    }
  }
  return out;
}

/** Records the changes of one write inside its transaction: log entries, then revisions. */
export async function recordChanges(rc: RecordsContext, trx: Db, caller: Caller, def: CollectionDef, changes: RecordChange[]): Promise<void> {
  if (changes.length === 0 || !audited(def)) return;
  const o = auditOptionsOf(def);
  const fields: TrailField[] = def.fields.map((f) => ({ name: f.name, secret: isSecretField(f), status: f.type === 'status' }));
  await rc.trail.changes(trx, caller.ctx, def.name, fields, o.changeLog, changes);
  if (!o.revisions) return;
  const kept = changes.filter((c) => c.before !== null && c.operation !== 'create');
  if (kept.length === 0) return;
  const at = rc.now();
  const last = new Map<string, number>();
  for (let i = 0; i < kept.length; i += 500) {
    const rows = await trx
      .selectFrom('record_revisions')
      .select(['record_id', (e) => e.fn.max('rev').as('rev')])
      .where('collection', '=', def.name)
      .where(
        'record_id',
        'in',
        kept.slice(i, i + 500).map((c) => c.id),
      )
      .groupBy('record_id')
      .execute();
    for (const r of rows) last.set(r.record_id, Number(r.rev));
  }
  const rows = kept.map((c) => {
    const rev = (last.get(c.id) ?? 0) + 1;
    last.set(c.id, rev);
    return {
      id: randomUUID(),
      collection: def.name,
      record_id: c.id,
      rev,
      at,
      operation: c.operation,
      actor_id: caller.ctx.actor.id,
      actor_name: caller.ctx.actor.name,
      data: JSON.stringify(c.before),
    };
  });
  for (let i = 0; i < rows.length; i += 200)
    await trx
      .insertInto('record_revisions')
      .values(rows.slice(i, i + 200))
      .execute();
}

/**
 * The access log of a read (AUDIT-3), where the collection keeps one: a single read names its record,
 * a list the ids it returned or (`filter` mode) its filter and count. Exports are always recorded.
 */
export async function recordAccess(
  rc: RecordsContext,
  caller: Caller,
  def: CollectionDef,
  operation: 'read' | 'list' | 'export',
  ids: string[],
  q: { filter?: unknown; search?: string; sort?: string; total?: number },
): Promise<void> {
  const mode = auditOptionsOf(def).accessLog;
  if (mode === 'off' && operation !== 'export') return;
  if (operation === 'read') return rc.trail.access(rc.db, caller.ctx, def.name, 'read', ids[0] ?? null, {});
  const query = { ...(q.filter !== undefined ? { filter: q.filter } : {}), ...(q.search ? { search: q.search } : {}), ...(q.sort ? { sort: q.sort } : {}) };
  if (operation === 'export' || mode === 'filter')
    return rc.trail.access(rc.db, caller.ctx, def.name, operation, null, { ...query, count: q.total ?? ids.length });
  return rc.trail.access(rc.db, caller.ctx, def.name, operation, null, { ids });
}
