/**
 * What record writes give the audit trail (AUDIT-3, AUDIT-4): every create, change and delete, read
 * inside the write's transaction before and after it, goes to `AuditTrail.changes` (change and status
 * entries) and, where the collection keeps revisions, the previous version to `record_revisions`.
 * A rolled-back write takes its entries with it; a committed one always has them.
 */
import { randomUUID } from 'node:crypto';
import { PostgresAdapter, sql } from 'kysely';
import type { Db } from '../db/index.js';
import { auditOptionsOf, hasColumn, isClassSecret, isSecretField, membersTableOf, tableOf, type CollectionDef } from '../collections/schema.js';
import type { RecordChange, TrailField } from '../audit/trail.js';
import { decode } from './codec.js';
import type { Caller, RecordsContext } from './context.js';
import type { EventContext } from '../audit/events.js';

/** Whether a write on `def` has anything to record (a change log, status fields or revisions). */
export function audited(def: CollectionDef): boolean {
  const o = auditOptionsOf(def);
  return o.changeLog || o.revisions || def.fields.some((f) => f.type === 'status');
}

/**
 * The records `ids` of `def` as clients see their fields (every field, hidden ones included), read in
 * `trx`. `lock` (the "before" of a change on PostgreSQL): the rows are locked in id order first, so
 * the snapshot is the version this change replaces, not one a concurrent change is replacing.
 */
export async function snapshot(trx: Db, def: CollectionDef, ids: string[], lock = false): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  if (ids.length === 0) return out;
  const t = tableOf(def.name);
  const forUpdate = lock && trx.getExecutor().adapter instanceof PostgresAdapter ? sql` order by ${sql.ref(`${t}.id`)} for update` : sql``;
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = (
      await sql<Record<string, unknown>>`select * from ${sql.table(t)} where ${sql.ref(`${t}.id`)} in (${sql.join(chunk)})${forUpdate}`.execute(trx)
    ).rows;
    for (const row of rows) {
      const rec: Record<string, unknown> = {};
      for (const f of def.fields) if (hasColumn(f)) rec[f.name] = decode(f, row[f.name]);
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

/**
 * A record after a write, as `snapshot` would read it, from what the write set: `base` (the record
 * before, or nothing for a new one) with the written columns and member lists over it. Defaults are
 * set by the write itself (`columnsOf`), so nothing else changes a column: no read is needed.
 */
export function written(
  def: CollectionDef,
  base: Record<string, unknown>,
  columns: Record<string, unknown>,
  members: Map<string, string[]>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of def.fields) {
    if (f.type === 'file') continue;
    if (f.type === 'members') out[f.name] = members.has(f.name) ? [...(members.get(f.name) ?? [])].sort() : (base[f.name] ?? []);
    else out[f.name] = f.name in columns ? decode(f, columns[f.name]) : (base[f.name] ?? null);
  }
  return out;
}

/** Records the changes of one write inside its transaction: log entries, then revisions. */
export async function recordChanges(rc: RecordsContext, trx: Db, caller: Pick<Caller, 'ctx'>, def: CollectionDef, changes: RecordChange[]): Promise<void> {
  if (changes.length === 0 || !audited(def)) return;
  const o = auditOptionsOf(def);
  const fields: TrailField[] = def.fields.map((f) => ({ name: f.name, secret: isSecretField(f), status: f.type === 'status' }));
  await rc.trail.changes(trx, caller.ctx, def.name, fields, o.changeLog, changes);
  if (!o.revisions) return;
  const kept = changes.filter((c) => c.before !== null && c.operation !== 'create');
  if (kept.length === 0) return;
  const at = rc.now();
  const last = new Map<string, number>();
  // A secret field's value is not kept in a revision (D431): a restore leaves it as it is.
  const secret = def.fields.filter(isClassSecret).map((f) => f.name);
  const keptData = (before: Record<string, unknown>): string => {
    if (secret.length === 0) return JSON.stringify(before);
    const out = { ...before };
    for (const n of secret) delete out[n];
    return JSON.stringify(out);
  };
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
      data: keptData(c.before ?? {}),
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
  q: { filter?: unknown; search?: string; sort?: string; total?: number; aggregate?: { groupBy?: string; metrics: string } },
): Promise<void> {
  const mode = auditOptionsOf(def).accessLog;
  if (mode === 'off' && operation !== 'export') return;
  if (operation === 'read') return rc.trail.access(rc.db, caller.ctx, def.name, 'read', ids[0] ?? null, {});
  // A search text may be anything a person typed (a name, a number): only its length is kept.
  const query = {
    ...(q.filter !== undefined ? { filter: redactFilter(def, q.filter) } : {}),
    ...(q.search ? { search: { length: q.search.length } } : {}),
    ...(q.sort ? { sort: q.sort } : {}),
    ...(q.aggregate ? { aggregate: q.aggregate } : {}),
  };
  // An aggregate returns groups, not records: its filter and grouping are what was read.
  if (q.aggregate) return rc.trail.access(rc.db, caller.ctx, def.name, operation, null, { ...query, count: q.total ?? 0 });
  if (operation === 'export' || mode === 'filter')
    return rc.trail.access(rc.db, caller.ctx, def.name, operation, null, { ...query, count: q.total ?? ids.length });
  return rc.trail.access(rc.db, caller.ctx, def.name, operation, null, { ids });
}

/** `recordAccess` for records read through another collection (an expansion): looks the definition up. */
export async function recordAccessOf(rc: RecordsContext, caller: Caller, collection: string, ids: string[]): Promise<void> {
  const def = await rc.registry.get(collection);
  if (def && auditOptionsOf(def).accessLog !== 'off') await recordAccess(rc, caller, def, 'list', ids, { total: ids.length });
}

/** What a logged filter's values are replaced with. */
export const REDACTED = '[redacted]';

/**
 * A client filter as the access log keeps it: every field name and operator, and no value at all.
 * A filter is often the very value looked for (an email, a name); kept in the log, it would be out of
 * reach of erasure, which destroys the keys of change entries only (D105).
 */
export function redactFilter(def: CollectionDef, filter: unknown, depth = 0): unknown {
  if (depth > 32) return REDACTED;
  if (Array.isArray(filter)) return filter.map((f) => redactFilter(def, f, depth + 1));
  if (typeof filter !== 'object' || filter === null) return REDACTED;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(filter)) out[k] = k.startsWith('$') ? redactFilter(def, v, depth + 1) : hideValues(v);
  return out;
}

function hideValues(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return REDACTED;
  return Object.fromEntries(Object.keys(v).map((op) => [op, REDACTED]));
}

/**
 * Takes a user being deleted out of every member list, inside the deletion's transaction, with a
 * change entry per record (what the database's cascade would otherwise do unrecorded).
 */
export async function removeMember(rc: RecordsContext, trx: Db, userId: string, ctx: EventContext): Promise<void> {
  for (const def of await rc.registry.list(trx)) {
    for (const f of def.fields.filter((x) => x.type === 'members')) {
      const jt = membersTableOf(def.name, f.name);
      const ids = (await sql<{ record_id: string }>`select record_id from ${sql.table(jt)} where user_id = ${userId}`.execute(trx)).rows.map(
        (r) => r.record_id,
      );
      if (ids.length === 0) continue;
      const before = audited(def) ? await snapshot(trx, def, ids, true) : null;
      await sql`delete from ${sql.table(jt)} where user_id = ${userId}`.execute(trx);
      if (!before) continue;
      const after = await snapshot(trx, def, ids);
      await recordChanges(
        rc,
        trx,
        { ctx },
        def,
        ids.filter((id) => before.has(id)).map((id) => ({ operation: 'update' as const, id, before: before.get(id) ?? null, after: after.get(id) ?? null })),
      );
    }
  }
}
