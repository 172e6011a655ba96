/** Lists and single reads: the row scope in the WHERE, the per-row field mask, search, and the expansion hook. */
import { CompiledQuery, sql, type RawBuilder, type SqlBool } from 'kysely';
import { AppError, HIDDEN } from '../errors.js';
import { isSystemDatetime, membersTableOf, tableOf, type FieldDef } from '../collections/schema.js';
import { FileService, type FileMeta } from '../files/service.js';
import { fieldsOf, type Plan } from '../access/plan.js';
import { SYSTEM_OUT, decoderOf, hasNul } from './codec.js';
import { isoOf } from '../util/iso.js';
import { expand } from './expand.js';
import { plan, userFilter } from './planning.js';
import { directOf, statementOf, type Statement } from './statement.js';
import type { Caller, ListQuery, ListResult, RecordOut, RecordsContext } from './context.js';

/** A total (asked for with `total: true`) counts at most this many records; past it, `totalCapped` is true. */
export const TOTAL_CAP = 10_000;
/** The fewest rows the id-order walk of a SQLite list visits before it gives way to the planner's plan (see `pageRows`). */
export const WALK_ROWS = 2_000;

export async function list(
  rc: RecordsContext,
  caller: Caller,
  collection: string,
  q: ListQuery,
  action: 'view' | 'export' = 'view',
  planned?: Plan,
): Promise<ListResult> {
  const p = planned ?? (await plan(rc, caller, collection, action));
  const st = q.filter === undefined && !q.search ? statementOf(rc, p, q, [], true) : statementOf(rc, p, q, await clientConditions(rc, caller, p, q), false);
  const offset = (q.page - 1) * q.perPage;
  // The total only when asked for (D355), under the same condition as the rows (the caller's scope,
  // never more), and counted up to TOTAL_CAP, so its cost stays flat however large the scope is.
  const counted = q.total
    ? Number(
        (await sql<{ n: number }>`select count(*) as n from (select 1 from ${sql.table(st.t)} where ${st.cond} limit ${TOTAL_CAP + 1}) as c`.execute(rc.db))
          .rows[0]?.n ?? 0,
      )
    : undefined;
  // One row more than the page says whether another page follows, without a count.
  const rows = counted === 0 ? [] : await pageRows(rc, st, offset);
  const hasMore = rows.length > q.perPage;
  const items = await shape(rc, p, hasMore ? rows.slice(0, q.perPage) : rows, st.perGrant, st.wanted, st.system);
  const truncated = q.expand ? await expand(rc, caller, p, items, q.expand) : [];
  return {
    items,
    ...(counted === undefined ? {} : { total: Math.min(counted, TOTAL_CAP), ...(counted > TOTAL_CAP ? { totalCapped: true } : {}) }),
    hasMore,
    page: q.page,
    perPage: q.perPage,
    ...(truncated.length > 0 ? { expandTruncated: truncated } : {}),
  };
}

/** The client's own conditions on a list: its filter and its search, under the plan. */
async function clientConditions(rc: RecordsContext, caller: Caller, p: Plan, q: ListQuery): Promise<RawBuilder<SqlBool>[]> {
  const where: RawBuilder<SqlBool>[] = [];
  if (q.filter !== undefined) where.push(await userFilter(rc, caller, p, q.filter));
  if (q.search) where.push(searchCondition(p, q.search));
  return where;
}

/**
 * The rows of a page (D356). With a composite index (field, id) on the scope's field, both dialects
 * read the page in id order from that index and stop, whatever the scope's size. Where no index
 * gives id order (an OR of several grants' conditions, an IN list, a range), SQLite's planner may
 * read every matching row and sort them to keep 50 (it does so where it has no statistics yet), a
 * cost that grows with the collection. For such a plan (asked with EXPLAIN QUERY PLAN, kept per
 * statement), the list first walks the id index with the condition made opaque, over at most
 * `reach` rows: when that fills the page (a broad condition), the page is exact, because the walk
 * is in id order; when it does not (a narrow one), the planner's plan sorts the few matching rows.
 * PostgreSQL's planner weighs the LIMIT itself. No count is needed for either choice.
 */
async function pageRows(rc: RecordsContext, q: Statement, offset: number): Promise<Record<string, unknown>[]> {
  const t = sql.table(q.t);
  const direct = q.direct ? { ...q.direct, parameters: [...q.direct.parameters.slice(0, -1), offset] } : directOf(rc, q, offset);
  if (rc.dialect !== 'sqlite' || !q.byId || !(await sortsAll(rc, direct))) return (await rc.db.executeQuery(direct)).rows;
  const id = sql.ref(`${q.t}.id`);
  const reach = Math.max(WALK_ROWS, 4 * (offset + q.limit));
  // The id `reach` rows into the id index (null: the table is shorter, and the walk covers all of it).
  const last = sql`(select w.id from ${t} as w order by w.id limit 1 offset ${reach - 1})`;
  const walked = (
    await sql<Record<string, unknown>>`select ${q.select}, ${last} is null as __whole from ${t}
      where (case when ${q.cond} then 1 else 0 end) = 1 and ${id} <= coalesce(${last}, (select max(w.id) from ${t} as w))
      order by ${q.order} limit ${q.limit} offset ${offset}`.execute(rc.db)
  ).rows;
  if (walked.length === q.limit || Number(walked[0]?.__whole) === 1) return walked;
  return (await rc.db.executeQuery(direct)).rows;
}

/** Per database: whether SQLite's plan of a statement sorts for its ORDER BY (from EXPLAIN QUERY PLAN), with when it was asked. */
const plans = new WeakMap<object, Map<string, { sorts: boolean; at: number }>>();
/** Plans follow the planner's statistics (refreshed hourly by `PRAGMA optimize`): asked again after this long. */
const PLAN_TTL_MS = 10 * 60_000;

async function sortsAll(rc: RecordsContext, q: CompiledQuery): Promise<boolean> {
  let known = plans.get(rc.db);
  if (!known) {
    known = new Map();
    plans.set(rc.db, known);
  }
  const hit = known.get(q.sql);
  const now = Date.now();
  if (hit && now - hit.at < PLAN_TTL_MS) return hit.sorts;
  const steps = await rc.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]));
  const sorts = steps.rows.some((r) => /TEMP B-TREE FOR (.*)ORDER BY/.test(String(r.detail)));
  if (known.size >= 500) known.clear();
  known.set(q.sql, { sorts, at: now });
  return sorts;
}

/**
 * Free-text search: a case-insensitive substring over the string, text and email fields the caller
 * may filter on. Fields they cannot read on every row are left out, so a search is never an oracle
 * for a masked or hidden value; with no such field, nothing matches.
 */
export function searchCondition(p: Plan, term: string): RawBuilder<SqlBool> {
  const t = tableOf(p.def.name);
  const { filterable } = fieldsOf(p);
  if (hasNul(term)) throw new AppError('FILTER_INVALID', { message: 'text may not contain the NUL character' });
  const fields = p.def.fields.filter((f) => (f.type === 'string' || f.type === 'text' || f.type === 'email') && filterable.has(f.name));
  if (fields.length === 0) return sql<SqlBool>`1 = 0`;
  const pattern = `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`(${sql.join(
    fields.map((f) => sql`lower(${sql.ref(`${t}.${f.name}`)}) like ${pattern} escape '\\'`),
    sql` or `,
  )})`;
}

/**
 * Each row shows the system fields asked for and the fields of the grants that hold for it, decoded
 * for JSON. What is the same for every row is worked out once per page: the decoders, and the
 * fields of each combination of grants that hold (one list per combination, not a set per row).
 */
export async function shape(
  rc: RecordsContext,
  p: Plan,
  rows: Record<string, unknown>[],
  perGrant: ReadonlyArray<ReadonlySet<string>>,
  wanted: ReadonlySet<string>,
  system: ReadonlyArray<[string, string]> = SYSTEM_OUT,
): Promise<RecordOut[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => String(r.id));
  const members = new Map<string, Map<string, string[]>>();
  for (const f of p.def.fields.filter((x) => x.type === 'members' && wanted.has(x.name))) {
    const m = new Map<string, string[]>();
    const got = await sql<{
      record_id: string;
      user_id: string;
    }>`select record_id, user_id from ${sql.table(membersTableOf(p.def.name, f.name))} where record_id in (${sql.join(ids)}) order by user_id`.execute(rc.db);
    for (const r of got.rows) {
      const list = m.get(r.record_id);
      if (list) list.push(r.user_id);
      else m.set(r.record_id, [r.user_id]);
    }
    members.set(f.name, m);
  }
  // File fields show their current files' metadata, a list for single and multiple fields alike.
  const files = new Map<string, FileMeta[]>();
  const fileFields = p.def.fields.filter((f) => f.type === 'file' && wanted.has(f.name)).map((f) => f.name);
  if (fileFields.length > 0) {
    const got = await rc.db
      .selectFrom('files')
      .selectAll()
      .where('collection', '=', p.def.name)
      .where('record_id', 'in', ids)
      .where('field', 'in', fileFields)
      .where('current', '=', 1)
      .orderBy('version', 'asc')
      .execute();
    for (const r of got) {
      const k = `${r.record_id}\u0000${r.field}`;
      const list = files.get(k);
      if (list) list.push(FileService.view(r));
      else files.set(k, [FileService.view(r)]);
    }
  }
  const sys = system.map(([name, col]) => ({ name, col, iso: isSystemDatetime(name) }));
  type Out = { f: FieldDef; decode: (v: unknown) => unknown };
  const decoders = new Map(p.def.fields.filter((f) => wanted.has(f.name)).map((f) => [f.name, decoderOf(f)]));
  const flagCols = p.bypass ? [] : p.grants.map((_, i) => `__g${i}`);
  const byGrants = new Map<string, Out[]>();
  const shown = (row: Record<string, unknown>): Out[] => {
    let key = '';
    for (const c of flagCols) key += Number(row[c]) === 1 ? '1' : '0';
    let out = byGrants.get(key);
    if (!out) {
      const allowed = p.bypass ? perGrant[0]! : new Set(perGrant.flatMap((s, i) => (key[i] === '1' ? [...s] : [])));
      out = p.def.fields.filter((f) => allowed.has(f.name) && wanted.has(f.name)).map((f) => ({ f, decode: decoders.get(f.name)! }));
      byGrants.set(key, out);
    }
    return out;
  };
  return rows.map((row) => {
    const out: RecordOut = {};
    for (const s of sys) out[s.name] = s.iso ? isoOf(row[s.col]) : row[s.col];
    const id = String(row.id);
    for (const { f, decode } of shown(row)) {
      if (f.type === 'file') out[f.name] = (files.get(`${id}\u0000${f.name}`) ?? []).map(({ current: _, ...meta }) => meta);
      else if (f.type === 'members') out[f.name] = members.get(f.name)?.get(id) ?? [];
      else out[f.name] = decode(row[f.name]);
    }
    return out;
  });
}

export async function get(rc: RecordsContext, caller: Caller, collection: string, id: string, expand?: string): Promise<RecordOut> {
  const r = await rc.list(caller, collection, { filter: { id }, page: 1, perPage: 1, expand, single: true });
  if (r.items.length === 0) throw new AppError('NOT_FOUND', undefined, (await exists(rc, collection, id)) ? HIDDEN.record : undefined);
  return r.items[0]!;
}

/** Whether the record exists at all, whoever may see it: tells a guessed id outside the scope from a missing one (for the audit, never the client). */
async function exists(rc: RecordsContext, collection: string, id: string): Promise<boolean> {
  const def = await rc.registry.get(collection);
  if (!def) return false;
  const t = tableOf(def.name);
  return (await sql`select 1 as one from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id}`.execute(rc.db)).rows.length > 0;
}
