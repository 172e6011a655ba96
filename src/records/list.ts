/** Lists and single reads: the row scope in the WHERE, the per-row field mask, search, and the expansion hook. */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { AppError } from '../errors.js';
import { SYSTEM_COLUMNS, hasColumn, isSystemDatetime, membersTableOf, tableOf } from '../collections/schema.js';
import { FileService, type FileMeta } from '../files/service.js';
import { fieldsOf, maskOf, rowFlags, scopeOf, type Plan } from '../access/plan.js';
import { SYSTEM_OUT, decode, hasNul } from './codec.js';
import { expand } from './expand.js';
import { plan, userFilter } from './planning.js';
import type { Caller, ListQuery, ListResult, RecordOut, RecordsContext } from './context.js';

/** The list total counts at most this many records (as search engines do); past it, `totalCapped` is true. */
const TOTAL_CAP = 10_000;
/** From this many matching records on, a default-ordered SQLite list walks the id index (see `list`). */
const WALK_FROM = 2_000;

export async function list(
  rc: RecordsContext,
  caller: Caller,
  collection: string,
  q: ListQuery,
  action: 'view' | 'export' = 'view',
  planned?: Plan,
): Promise<ListResult> {
  const p = planned ?? (await plan(rc, caller, collection, action));
  const t = tableOf(p.def.name);
  const { perGrant, anyReadable, checkFilterable } = fieldsOf(p);
  const where: RawBuilder<SqlBool>[] = [scopeOf(p)];
  if (q.filter !== undefined) where.push(await userFilter(rc, caller, p, q.filter));
  if (q.search) where.push(searchCondition(p, q.search));
  const order = (q.sort ?? '')
    .split(',')
    .filter(Boolean)
    .slice(0, 5)
    .map((s) => {
      const desc = s.startsWith('-');
      const name = desc ? s.slice(1) : s;
      if (name.includes('.')) throw new AppError('FILTER_INVALID', { message: 'sorting on a relation path is not supported' });
      checkFilterable(name);
      const f = p.def.fields.find((x) => x.name === name);
      if (f && !hasColumn(f))
        throw new AppError('FILTER_INVALID', { message: f.type === 'members' ? 'cannot sort on a member list' : 'cannot sort on a file field' });
      return sql`${sql.ref(`${t}.${SYSTEM_COLUMNS[name] ?? name}`)} ${desc ? sql`desc` : sql`asc`}`;
    });
  order.push(sql`${sql.ref(`${t}.id`)} asc`);
  let wanted = anyReadable;
  if (q.fields) {
    const asked = q.fields.split(',').filter(Boolean);
    for (const a of asked)
      if (!SYSTEM_COLUMNS[a] && (!p.def.fields.some((f) => f.name === a) || !p.known.has(a))) throw new AppError('FIELD_UNKNOWN', { field: a.slice(0, 60) });
    wanted = new Set(asked.filter((a) => anyReadable.has(a)));
  }
  const cond = sql.join(where, sql` and `);
  const columns = p.def.fields.filter((f) => wanted.has(f.name) && hasColumn(f)).map((f) => sql.ref(`${t}.${f.name}`));
  const flags = p.bypass ? [] : rowFlags(p, p.grants);
  const select = sql.join([...SYSTEM_OUT.map(([, c]) => sql.ref(`${t}.${c}`)), ...columns, ...flags]);
  const offset = (q.page - 1) * q.perPage;
  // The total is counted up to TOTAL_CAP, so its cost stays flat however large the scope is.
  const counted = Number(
    (await sql<{ n: number }>`select count(*) as n from (select 1 from ${sql.table(t)} where ${cond} limit ${TOTAL_CAP + 1}) as c`.execute(rc.db)).rows[0]?.n ??
      0,
  );
  const total = Math.min(counted, TOTAL_CAP);
  // SQLite serves a condition from its column index and then sorts every matching row, even when
  // the page is the first 50 in id order. Where the scope is broad and the order is the default,
  // the condition is made opaque to the planner, so it walks the id index and stops at the page.
  const walk = rc.dialect === 'sqlite' && !q.sort && counted >= WALK_FROM;
  const rowCond = walk ? sql<SqlBool>`(case when ${cond} then 1 else 0 end) = 1` : cond;
  const rows =
    counted === 0
      ? []
      : (
          await sql<
            Record<string, unknown>
          >`select ${select} from ${sql.table(t)} where ${rowCond} order by ${sql.join(order)} limit ${q.perPage} offset ${offset}`.execute(rc.db)
        ).rows;
  const items = await shape(rc, p, rows, perGrant, wanted);
  const truncated = q.expand ? await expand(rc, caller, p, items, q.expand) : [];
  return {
    items,
    total,
    ...(counted > TOTAL_CAP ? { totalCapped: true } : {}),
    page: q.page,
    perPage: q.perPage,
    ...(truncated.length > 0 ? { expandTruncated: truncated } : {}),
  };
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

/** Each row shows the fields of the grants that hold for that row, decoded for JSON. */
export async function shape(rc: RecordsContext, p: Plan, rows: Record<string, unknown>[], perGrant: Set<string>[], wanted: Set<string>): Promise<RecordOut[]> {
  const memberFields = p.def.fields.filter((f) => f.type === 'members' && wanted.has(f.name));
  const members = new Map<string, Map<string, string[]>>();
  for (const f of memberFields) {
    const ids = rows.map((r) => String(r.id));
    const m = new Map<string, string[]>();
    if (ids.length > 0) {
      const got = await sql<{
        record_id: string;
        user_id: string;
      }>`select record_id, user_id from ${sql.table(membersTableOf(p.def.name, f.name))} where record_id in (${sql.join(ids)}) order by user_id`.execute(rc.db);
      for (const r of got.rows) m.set(r.record_id, [...(m.get(r.record_id) ?? []), r.user_id]);
    }
    members.set(f.name, m);
  }
  // File fields show their current files' metadata, a list for single and multiple fields alike.
  const files = new Map<string, FileMeta[]>();
  const fileFields = p.def.fields.filter((f) => f.type === 'file' && wanted.has(f.name)).map((f) => f.name);
  if (fileFields.length > 0 && rows.length > 0) {
    const got = await rc.db
      .selectFrom('files')
      .selectAll()
      .where('collection', '=', p.def.name)
      .where(
        'record_id',
        'in',
        rows.map((r) => String(r.id)),
      )
      .where('field', 'in', fileFields)
      .where('current', '=', 1)
      .orderBy('version', 'asc')
      .execute();
    for (const r of got) {
      const k = `${r.record_id}\u0000${r.field}`;
      files.set(k, [...(files.get(k) ?? []), FileService.view(r)]);
    }
  }
  return rows.map((row) => {
    const allowed = maskOf(p, perGrant, row);
    const out: RecordOut = {};
    for (const [name, col] of SYSTEM_OUT) out[name] = isSystemDatetime(name) ? new Date(Number(row[col])).toISOString() : row[col];
    for (const f of p.def.fields) {
      if (!allowed.has(f.name) || !wanted.has(f.name)) continue;
      if (f.type === 'file') out[f.name] = (files.get(`${String(row.id)}\u0000${f.name}`) ?? []).map(({ current: _, ...meta }) => meta);
      else out[f.name] = f.type === 'members' ? (members.get(f.name)?.get(String(row.id)) ?? []) : decode(f, row[f.name]);
    }
    return out;
  });
}

export async function get(rc: RecordsContext, caller: Caller, collection: string, id: string, expand?: string): Promise<RecordOut> {
  const r = await rc.list(caller, collection, { filter: { id }, page: 1, perPage: 1, expand });
  if (r.items.length === 0) throw new AppError('NOT_FOUND');
  return r.items[0]!;
}
