/** Aggregates over the records a caller may view, on fields they may filter on. */
import { sql } from 'kysely';
import { AppError } from '../errors.js';
import { SYSTEM_COLUMNS, isSystemDatetime, tableOf, type FieldDef } from '../collections/schema.js';
import { fieldsOf, scopeOf } from '../access/plan.js';
import { decode } from './codec.js';
import { plan, userFilter } from './planning.js';
import type { Caller, RecordsContext } from './context.js';

/** Most groups an aggregate returns. */
const AGG_GROUPS_MAX = 1000;

/**
 * Aggregates (count, sum, avg, min, max), optionally grouped by up to three fields, over the records
 * the caller may view. Grouped and measured fields must be readable on every row the caller can see
 * (the filter-oracle rule), so an aggregate cannot reveal a masked or hidden value.
 */
export async function aggregate(
  rc: RecordsContext,
  caller: Caller,
  collection: string,
  q: { filter?: unknown; groupBy?: string; metrics: string },
): Promise<{ groups: Array<Record<string, unknown>> }> {
  const p = await plan(rc, caller, collection, 'view');
  const t = tableOf(p.def.name);
  const { checkFilterable } = fieldsOf(p);
  const fieldNamed = (name: string): FieldDef => {
    checkFilterable(name);
    const sys = SYSTEM_COLUMNS[name];
    if (sys) return { name: sys, type: isSystemDatetime(name) ? 'datetime' : 'string' };
    return p.def.fields.find((f) => f.name === name)!;
  };
  const groupBy = (q.groupBy ?? '').split(',').filter(Boolean);
  if (groupBy.length > 3) throw new AppError('FILTER_INVALID', { message: 'group by at most 3 fields' });
  const groups = groupBy.map((name) => {
    const f = fieldNamed(name);
    if (f.type === 'members' || f.type === 'file' || f.type === 'json' || f.type === 'text')
      throw new AppError('FILTER_INVALID', { message: `cannot group by ${name}` });
    return { name, f };
  });
  const metrics = q.metrics
    .split(',')
    .filter(Boolean)
    .map((m) => {
      if (m === 'count') return { key: m, fn: 'count', f: null as FieldDef | null };
      const [fn, name, ...more] = m.split(':');
      if (more.length > 0 || !name || !['sum', 'avg', 'min', 'max'].includes(fn!))
        throw new AppError('FILTER_INVALID', { message: `a metric is count or sum|avg|min|max:field, not ${m.slice(0, 40)}` });
      const f = fieldNamed(name);
      const numeric = f.type === 'integer' || f.type === 'decimal';
      if (!numeric && !((fn === 'min' || fn === 'max') && f.type === 'datetime'))
        throw new AppError('FILTER_INVALID', { message: `${fn} needs a number field${fn === 'min' || fn === 'max' ? ' or a date-time' : ''}` });
      return { key: m, fn: fn!, f };
    });
  if (metrics.length === 0 || metrics.length > 10) throw new AppError('FILTER_INVALID', { message: 'name 1 to 10 metrics' });
  const where = [scopeOf(p)];
  if (q.filter !== undefined) where.push(await userFilter(rc, caller, p, q.filter));
  const cols = groups.map((g, i) => sql`${sql.ref(`${t}.${g.f.name}`)} as ${sql.id(`g${i}`)}`);
  const aggs = metrics.map((m, i) =>
    m.f === null ? sql`count(*) as ${sql.id(`m${i}`)}` : sql`${sql.raw(m.fn)}(${sql.ref(`${t}.${m.f.name}`)}) as ${sql.id(`m${i}`)}`,
  );
  const groupSql =
    groups.length > 0
      ? sql` group by ${sql.join(groups.map((g) => sql.ref(`${t}.${g.f.name}`)))} order by ${sql.join(groups.map((g) => sql.ref(`${t}.${g.f.name}`)))}`
      : sql``;
  const rows = (
    await sql<
      Record<string, unknown>
    >`select ${sql.join([...cols, ...aggs])} from ${sql.table(t)} where ${sql.join(where, sql` and `)}${groupSql} limit ${AGG_GROUPS_MAX + 1}`.execute(rc.db)
  ).rows;
  if (rows.length > AGG_GROUPS_MAX)
    throw new AppError('VALIDATION_FAILED', [{ path: '/groupBy', message: `more than ${AGG_GROUPS_MAX} groups; filter or group by fewer fields` }]);
  return {
    groups: rows.map((r) => {
      const out: Record<string, unknown> = { key: Object.fromEntries(groups.map((g, i) => [g.name, decode(g.f, r[`g${i}`])])) };
      metrics.forEach((m, i) => {
        const v = r[`m${i}`];
        out[m.key] = v === null || v === undefined ? null : m.f?.type === 'datetime' ? new Date(Number(v)).toISOString() : Number(v);
      });
      return out;
    }),
  };
}
