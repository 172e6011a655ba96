/**
 * A list's SQL: what it selects under which condition, in which order, and how its rows are shaped, built from the
 * caller's plan and query, and kept compiled where nothing in it moves between requests (issue 14).
 */
import { type CompiledQuery, sql, type RawBuilder, type SqlBool } from 'kysely';
import { AppError } from '../errors.js';
import { SYSTEM_COLUMNS, hasColumn, isClassSecret, tableOf, type CollectionDef } from '../collections/schema.js';
import { fieldsOf, rowFlags, scopeOf, type Plan } from '../access/plan.js';
import type { Grant } from '../access/types.js';
import { entryOf } from '../util/memo.js';
import { SYSTEM_OUT } from './codec.js';
import type { ListQuery, RecordsContext } from './context.js';

/** A list's statement: what it selects, under which condition, in which order, and how its rows are shaped. */
export interface Statement {
  t: string;
  select: RawBuilder<unknown>;
  cond: RawBuilder<unknown>;
  order: RawBuilder<unknown>;
  limit: number;
  /** The client asked for no sort: the rows come in id order. */
  byId: boolean;
  perGrant: ReadonlyArray<ReadonlySet<string>>;
  wanted: ReadonlySet<string>;
  system: ReadonlyArray<[string, string]>;
  /** The page's statement compiled with offset 0, where it is kept (`statementOf`): the offset is its last parameter. */
  direct?: CompiledQuery<Record<string, unknown>>;
}

/**
 * Statements kept per definition and grant list (the caches' objects, the same while their stamps are) and per caller
 * and query: a list without a filter or a search, the common case, builds and compiles its SQL once (issue 14). The
 * key holds everything the SQL is made of; a plan whose grants name `$now` is never kept (its value moves).
 */
const statements = new WeakMap<CollectionDef, WeakMap<readonly Grant[], { usesNow: boolean; byKey: Map<string, Statement> }>>();
const STATEMENTS_MAX = 256;

export function statementOf(rc: RecordsContext, p: Plan, q: ListQuery, clientWhere: RawBuilder<SqlBool>[], keep: boolean): Statement {
  if (!keep) return buildStatement(p, q, clientWhere);
  // Whether a grant names `$now` is asked once per grant list, when its entry is made.
  const { usesNow, byKey } = entryOf(
    entryOf(statements, p.def, () => new WeakMap()),
    p.grants,
    () => ({ usesNow: p.grants.some((g) => g.scope !== null && g.scope !== undefined && JSON.stringify(g.scope).includes('"$now"')), byKey: new Map() }),
  );
  if (usesNow) return buildStatement(p, q, clientWhere);
  const { userId, roles, departments } = p.vars;
  // The sort and the fields as the statement reads them (the first five sort keys; the fields as a set), so that
  // spellings of one query share an entry; the page is not in it: its offset is the statement's last parameter.
  const key = JSON.stringify([
    p.bypass,
    userId,
    roles,
    departments,
    p.roles,
    [...p.known],
    sortKeys(q.sort),
    q.fields ? [...new Set(q.fields.split(',').filter(Boolean))].sort() : null,
    q.single === true,
    q.perPage,
  ]);
  const hit = byKey.get(key);
  if (hit) return hit;
  const built = buildStatement(p, q, clientWhere);
  built.direct = directOf(rc, built, 0);
  // The oldest entry gives way (a map keeps its keys in insertion order).
  if (byKey.size >= STATEMENTS_MAX) byKey.delete(byKey.keys().next().value as string);
  byKey.set(key, built);
  return built;
}

const sortKeys = (sort: string | undefined): string[] => (sort ?? '').split(',').filter(Boolean).slice(0, 5);

function buildStatement(p: Plan, q: ListQuery, clientWhere: RawBuilder<SqlBool>[]): Statement {
  const t = tableOf(p.def.name);
  const { perGrant, anyReadable, checkFilterable } = fieldsOf(p);
  const where: RawBuilder<SqlBool>[] = [scopeOf(p), ...clientWhere];
  const order = sortKeys(q.sort).map((s) => {
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
  // A secret field is read one record at a time (D431): no page of records, expansion or export carries it.
  const readable = q.single ? anyReadable : new Set([...anyReadable].filter((n) => !p.def.fields.some((f) => f.name === n && isClassSecret(f))));
  let wanted = readable;
  let system = SYSTEM_OUT;
  if (q.fields) {
    const asked = q.fields.split(',').filter(Boolean);
    for (const a of asked)
      if (!SYSTEM_COLUMNS[a] && (!p.def.fields.some((f) => f.name === a) || !p.known.has(a))) throw new AppError('FIELD_UNKNOWN', { field: a.slice(0, 60) });
    wanted = new Set(asked.filter((a) => readable.has(a)));
    // `fields` names exactly what a row shows, system fields included; `id` always (D358).
    system = SYSTEM_OUT.filter(([n]) => n === 'id' || asked.includes(n));
  }
  const columns = p.def.fields.filter((f) => wanted.has(f.name) && hasColumn(f)).map((f) => sql.ref(`${t}.${f.name}`));
  const flags = p.bypass ? [] : rowFlags(p, p.grants);
  return {
    t,
    select: sql.join([...system.map(([, c]) => sql.ref(`${t}.${c}`)), ...columns, ...flags]),
    cond: sql.join(where, sql` and `),
    order: sql.join(order),
    limit: q.perPage + 1,
    byId: !q.sort,
    perGrant,
    wanted,
    system,
  };
}

/** The page's statement, compiled. */
export function directOf(rc: RecordsContext, q: Statement, offset: number): CompiledQuery<Record<string, unknown>> {
  return sql<Record<string, unknown>>`select ${q.select} from ${sql.table(q.t)} where ${q.cond} order by ${q.order} limit ${q.limit} offset ${offset}`.compile(
    rc.db,
  );
}
