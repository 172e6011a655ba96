import { randomUUID } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Db } from '../db/index.js';
import type { UsersTable } from '../db/types.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../errors.js';
import { isPlainAddress } from '../mail/address.js';
import { isUniqueViolation } from '../db/errors.js';
import type { AccessStore, Action, Grant } from '../access/grants.js';
import type { CollectionRegistry } from './registry.js';
import { SYSTEM_COLUMNS, compileFilter, relationPaths, toColumnValue, type FilterVars, type RelationContext } from './filter.js';
import { grantedFields, membersTableOf, ownershipField, tableOf, type CollectionDef, type FieldDef } from './schema.js';

export interface Caller {
  user: UsersTable;
  /** The roles the request acts with (the active role, or the union of all held). */
  roles: string[];
  departments: string[];
  ctx: EventContext;
}

export interface ListQuery {
  filter?: unknown;
  sort?: string;
  fields?: string;
  /** Relation fields to expand, and `collection:field` reverse relations. */
  expand?: string;
  /** Free text: matches records where any text field the caller may filter on contains it. */
  search?: string;
  page: number;
  perPage: number;
}

export type RecordOut = Record<string, unknown>;

/** One access decision for a request: the collection, the grants for the action, and the caller's variables. */
interface Plan {
  def: CollectionDef;
  action: Action;
  grants: Grant[];
  /** Administrators bypass grants; each such data action is audited as record.bypass. */
  bypass: boolean;
  vars: FilterVars;
  roles: string[];
  /**
   * The fields the caller knows of: readable or writable under some grant of theirs (any action).
   * Any other field answers exactly like one that does not exist (no existence oracle for fields).
   */
  known: Set<string>;
  /** The fields the caller can read on every record of the collection (an unscoped view grant). */
  wholeView: Set<string>;
}

const READ_ACTIONS: readonly Action[] = ['view', 'export'];
const WRITE_ACTIONS: readonly Action[] = ['create', 'update', 'import'];

const OUTSIDE = 'outside the write grants';
/** Most related records one reverse expansion returns per request. */
const EXPAND_MAX = 1000;
/** The list total counts at most this many records (as search engines do); past it, `totalCapped` is true. */
const TOTAL_CAP = 10_000;
/** From this many matching records on, a default-ordered SQLite list walks the id index (see `list`). */
const WALK_FROM = 2_000;
/** Most groups an aggregate returns. */
const AGG_GROUPS_MAX = 1000;
/** Most records one bulk request may change. */
const BULK_MAX = 10_000;
const SYSTEM_OUT: Array<[string, string]> = [['id', 'id'], ['createdAt', 'created_at'], ['updatedAt', 'updated_at'], ['createdBy', 'created_by'], ['updatedBy', 'updated_by']];
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Backend-only fields never leave the server, except to the roles a field lists. */
function visibleTo(f: FieldDef, roles: readonly string[]): boolean {
  if (f.hidden === undefined || f.hidden === false) return true;
  if (f.hidden === true) return false;
  return f.hidden.exceptRoles.some((r) => roles.includes(r));
}

/** The fields a caller's grants (any action) let them read or write: the fields they know exist. */
function knownFields(def: CollectionDef, grants: readonly Grant[], roles: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const g of grants) {
    const writes = g.actions.some((a) => WRITE_ACTIONS.includes(a));
    const reads = g.actions.some((a) => READ_ACTIONS.includes(a));
    for (const n of grantedFields(def, g.fields)) if (writes || (reads && visibleTo(def.fields.find((f) => f.name === n)!, roles))) out.add(n);
  }
  return out;
}

/** The fields a caller reads on every record: those of a view grant without scope, statuses or ownership filter. */
function wholeView(def: CollectionDef, grants: readonly Grant[], roles: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const g of grants) {
    if (!g.actions.includes('view') || g.scope !== null || g.statuses !== null) continue;
    if (def.ownership && !(def.ownershipBypass ?? []).includes(g.role)) continue;
    for (const n of grantedFields(def, g.fields)) if (visibleTo(def.fields.find((f) => f.name === n)!, roles)) out.add(n);
  }
  return out;
}

/** Deepest nesting and most nodes of a json field value (docs: README, records). */
export const JSON_MAX_DEPTH = 32;
const JSON_MAX_NODES = 10_000;

/** Whether a JSON value nests at most JSON_MAX_DEPTH levels and has at most JSON_MAX_NODES nodes; iterative, so any depth is safe to check. */
function jsonWithinBounds(v: unknown): boolean {
  const stack: Array<[unknown, number]> = [[v, 0]];
  let nodes = 0;
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (++nodes > JSON_MAX_NODES) return false;
    if (typeof x !== 'object' || x === null) continue;
    if (depth >= JSON_MAX_DEPTH) return false;
    for (const c of Array.isArray(x) ? x : Object.values(x)) stack.push([c, depth + 1]);
  }
  return true;
}

const hasNul = (v: string): boolean => v.includes('\u0000');

/**
 * The records service (ACCESS-3 to ACCESS-8): every read and write of records goes through here.
 * The row scope of the caller's grants is compiled into the SQL WHERE; fields that no grant lets the
 * caller read are never selected; each row shows only the fields of the grants that hold for that row;
 * writes are checked against the record before and after the change, inside the transaction.
 */
export class RecordService {
  constructor(
    private readonly db: Db,
    private readonly registry: CollectionRegistry,
    private readonly access: AccessStore,
    private readonly log: SecurityLog,
    private readonly now: () => number,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  private async plan(caller: Caller, collection: string, action: Action): Promise<Plan> {
    const def = await this.registry.get(collection);
    if (!def) throw new AppError('NOT_FOUND');
    const vars: FilterVars = { userId: caller.user.id, roles: caller.roles, departments: caller.departments, now: this.now() };
    if (caller.user.is_admin === 1) {
      await this.log.record(caller.ctx, { type: 'record.bypass', outcome: 'info', details: { collection, action } });
      const every = new Set(def.fields.map((f) => f.name));
      return { def, action, grants: [], bypass: true, vars, roles: caller.roles, known: every, wholeView: every };
    }
    const all = await this.access.grantsFor(caller.roles, collection);
    // No grant of any kind: the collection does not exist for this caller (the same 404 as a missing one).
    if (all.length === 0) throw new AppError('NOT_FOUND', undefined, `no grant on ${collection}`);
    const grants = all.filter((g) => g.actions.includes(action));
    if (grants.length === 0) throw new AppError('FORBIDDEN', undefined, `no ${action} grant on ${collection}`);
    return { def, action, grants, bypass: false, vars, roles: caller.roles, known: knownFields(def, all, caller.roles), wholeView: wholeView(def, all, caller.roles) };
  }

  /**
   * The plan whose fields and rows decide what a filter may name: the plan itself for a read (view,
   * export); for a write (bulk update, bulk delete), the caller's view plan, whatever their write
   * grants say. A caller with no view grant reads nothing: no field is filterable and no row matches.
   */
  private async readPlanOf(caller: Caller, p: Plan): Promise<Plan> {
    if (p.bypass || READ_ACTIONS.includes(p.action)) return p;
    try {
      return await this.plan(caller, p.def.name, 'view');
    } catch (e) {
      if (e instanceof AppError && (e.code === 'FORBIDDEN' || e.code === 'NOT_FOUND')) return { ...p, action: 'view', grants: [] };
      throw e;
    }
  }

  /** The SQL condition under which a grant holds for a row: its scope, its statuses, the ownership mode. */
  private condition(p: Plan, g: Grant, t = tableOf(p.def.name)): RawBuilder<SqlBool> {
    const parts: RawBuilder<SqlBool>[] = [];
    if (g.scope) parts.push(compileFilter(g.scope, { def: p.def, vars: p.vars, alias: t }));
    if (g.statuses) {
      const status = p.def.fields.find((f) => f.type === 'status');
      parts.push(!status || g.statuses.length === 0 ? sql<SqlBool>`1 = 0` : sql<SqlBool>`${sql.ref(`${t}.${status.name}`)} in (${sql.join(g.statuses)})`);
    }
    // Ownership adds a row filter to every grant, except grants of the collection's bypass roles.
    const owned = !(p.def.ownershipBypass ?? []).includes(g.role);
    const of = ownershipField(p.def);
    if (owned && p.def.ownership === 'creator') parts.push(sql<SqlBool>`${sql.ref(`${t}.created_by`)} = ${p.vars.userId}`);
    if (owned && p.def.ownership === 'members' && of) {
      parts.push(sql<SqlBool>`exists (select 1 from ${sql.table(membersTableOf(p.def.name, of.name))} o where o.record_id = ${sql.ref(`${t}.id`)} and o.user_id = ${p.vars.userId})`);
    }
    if (owned && p.def.ownership === 'group' && of) {
      parts.push(p.vars.departments.length === 0 ? sql<SqlBool>`1 = 0` : sql<SqlBool>`${sql.ref(`${t}.${of.name}`)} in (${sql.join(p.vars.departments)})`);
    }
    return parts.length === 0 ? sql<SqlBool>`1 = 1` : sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
  }

  private readable(p: Plan, g: Grant | null): Set<string> {
    const names = g ? grantedFields(p.def, g.fields) : new Set(p.def.fields.map((f) => f.name));
    return new Set([...names].filter((n) => visibleTo(p.def.fields.find((f) => f.name === n)!, p.roles)));
  }

  /**
   * The row scope of a plan: the OR of its grants' conditions. A grant whose rows another grant already
   * covers (the same or no scope, the same or no statuses, and no ownership filter the other lacks) adds
   * nothing to the OR and is left out of it, which keeps the WHERE on one index; its per-row field flag
   * is still computed.
   */
  private scopeOf(p: Plan, alias?: string): RawBuilder<SqlBool> {
    if (p.bypass) return sql<SqlBool>`1 = 1`;
    if (p.grants.length === 0) return sql<SqlBool>`1 = 0`;
    const owned = (g: Grant) => !!p.def.ownership && !(p.def.ownershipBypass ?? []).includes(g.role);
    const covers = (h: Grant, g: Grant) => (h.scope === null || JSON.stringify(h.scope) === JSON.stringify(g.scope))
      && (h.statuses === null || (g.statuses !== null && g.statuses.every((s) => h.statuses!.includes(s))))
      && (!owned(h) || owned(g));
    const needed = p.grants.filter((g, i) => !p.grants.some((h, j) => j !== i && covers(h, g) && (!covers(g, h) || j < i)));
    return sql<SqlBool>`(${sql.join(needed.map((g) => this.condition(p, g, alias)), sql` or `)})`;
  }

  /**
   * A client filter as SQL: the one filter check that every path goes through (list, search, export,
   * aggregate, bulk update, bulk delete, relation paths). Every field it names must be readable on every
   * record the caller can read (`readPlanOf`): for a bulk write that is the view plan, whatever the
   * write grants, and the filter then also matches only records the caller can view, so the count of
   * a bulk change tells nothing about records or values the caller cannot read. Relation paths
   * (`customer.name`) reach only related records in the caller's view scope of the target, and only
   * fields they may filter on there; a target they have no view grant on is FIELD_NOT_FILTERABLE.
   */
  private async userFilter(caller: Caller, planned: Plan, filter: unknown): Promise<RawBuilder<SqlBool>> {
    const p = await this.readPlanOf(caller, planned);
    const compiled = await this.compileUserFilter(caller, p, filter);
    return p === planned ? compiled : sql<SqlBool>`(${compiled} and ${this.scopeOf(p)})`;
  }

  private async compileUserFilter(caller: Caller, p: Plan, filter: unknown): Promise<RawBuilder<SqlBool>> {
    const targets = new Map<string, RelationContext>();
    for (const path of relationPaths(filter)) {
      const rel = path.split('.')[0]!;
      const f = p.def.fields.find((x) => x.name === rel);
      if (f?.type !== 'relation' || targets.has(rel)) continue;
      let tp: Plan;
      try {
        tp = await this.plan(caller, f.target!, 'view');
      } catch (e) {
        if (e instanceof AppError && (e.code === 'FORBIDDEN' || e.code === 'NOT_FOUND')) throw new AppError('FIELD_NOT_FILTERABLE', { field: path.slice(0, 80) });
        throw e;
      }
      const alias = `r_${rel}`;
      targets.set(rel, { def: tp.def, alias, scope: this.scopeOf(tp, alias), onField: this.fieldsOf(tp).checkFilterable });
    }
    return compileFilter(filter, {
      def: p.def, vars: p.vars, onField: this.fieldsOf(p).checkFilterable,
      relation: (rel) => {
        const r = targets.get(rel);
        if (!r) throw new AppError('FILTER_INVALID', { message: `${rel.slice(0, 40)} is not a relation` });
        return r;
      },
    });
  }

  /**
   * The fields of a plan: per grant, any grant, and the check for filters and sorts. A field may be
   * filtered or sorted on only where the caller can read it on every row it can see (no filter oracle).
   */
  private fieldsOf(p: Plan): { perGrant: Set<string>[]; anyReadable: Set<string>; checkFilterable: (name: string) => void } {
    const perGrant = p.bypass ? [this.readable(p, null)] : p.grants.map((g) => this.readable(p, g));
    const anyReadable = new Set(perGrant.flatMap((x) => [...x]));
    const filterable = new Set([...anyReadable].filter((f) => perGrant.every((x) => x.has(f))));
    const checkFilterable = (name: string) => {
      if (SYSTEM_COLUMNS[name]) return;
      // A field the caller knows nothing of (backend-only, or in none of their grants) answers as a missing one.
      if (!p.def.fields.some((f) => f.name === name) || !p.known.has(name)) throw new AppError('FIELD_UNKNOWN', { field: name.slice(0, 60) });
      if (!filterable.has(name)) throw new AppError('FIELD_NOT_FILTERABLE', { field: name.slice(0, 60) });
    };
    return { perGrant, anyReadable, checkFilterable };
  }

  async list(caller: Caller, collection: string, q: ListQuery, action: 'view' | 'export' = 'view', planned?: Plan): Promise<{ items: RecordOut[]; total: number; totalCapped?: boolean; page: number; perPage: number; expandTruncated?: string[] }> {
    const p = planned ?? await this.plan(caller, collection, action);
    const t = tableOf(p.def.name);
    const { perGrant, anyReadable, checkFilterable } = this.fieldsOf(p);
    const where: RawBuilder<SqlBool>[] = [this.scopeOf(p)];
    if (q.filter !== undefined) where.push(await this.userFilter(caller, p, q.filter));
    if (q.search) where.push(this.searchCondition(p, q.search));
    const order = (q.sort ?? '').split(',').filter(Boolean).slice(0, 5).map((s) => {
      const desc = s.startsWith('-');
      const name = desc ? s.slice(1) : s;
      if (name.includes('.')) throw new AppError('FILTER_INVALID', { message: 'sorting on a relation path is not supported' });
      checkFilterable(name);
      const f = p.def.fields.find((x) => x.name === name);
      if (f?.type === 'members') throw new AppError('FILTER_INVALID', { message: 'cannot sort on a member list' });
      return sql`${sql.ref(`${t}.${SYSTEM_COLUMNS[name] ?? name}`)} ${desc ? sql`desc` : sql`asc`}`;
    });
    order.push(sql`${sql.ref(`${t}.id`)} asc`);
    let wanted = anyReadable;
    if (q.fields) {
      const asked = q.fields.split(',').filter(Boolean);
      for (const a of asked) if (!SYSTEM_COLUMNS[a] && (!p.def.fields.some((f) => f.name === a) || !p.known.has(a))) throw new AppError('FIELD_UNKNOWN', { field: a.slice(0, 60) });
      wanted = new Set(asked.filter((a) => anyReadable.has(a)));
    }
    const cond = sql.join(where, sql` and `);
    const columns = p.def.fields.filter((f) => wanted.has(f.name) && f.type !== 'members').map((f) => sql.ref(`${t}.${f.name}`));
    const flags = p.bypass ? [] : p.grants.map((g, i) => sql`case when ${this.condition(p, g)} then 1 else 0 end as ${sql.id(`__g${i}`)}`);
    const select = sql.join([...SYSTEM_OUT.map(([, c]) => sql.ref(`${t}.${c}`)), ...columns, ...flags]);
    const offset = (q.page - 1) * q.perPage;
    // The total is counted up to TOTAL_CAP, so its cost stays flat however large the scope is.
    const counted = Number((await sql<{ n: number }>`select count(*) as n from (select 1 from ${sql.table(t)} where ${cond} limit ${TOTAL_CAP + 1}) as c`.execute(this.db)).rows[0]?.n ?? 0);
    const total = Math.min(counted, TOTAL_CAP);
    // SQLite serves a condition from its column index and then sorts every matching row, even when
    // the page is the first 50 in id order. Where the scope is broad and the order is the default,
    // the condition is made opaque to the planner, so it walks the id index and stops at the page.
    const walk = this.dialect === 'sqlite' && !q.sort && counted >= WALK_FROM;
    const rowCond = walk ? sql<SqlBool>`(case when ${cond} then 1 else 0 end) = 1` : cond;
    const rows = counted === 0 ? [] : (await sql<Record<string, unknown>>`select ${select} from ${sql.table(t)} where ${rowCond} order by ${sql.join(order)} limit ${q.perPage} offset ${offset}`.execute(this.db)).rows;
    const items = await this.shape(p, rows, perGrant, wanted);
    const truncated = q.expand ? await this.expand(caller, p, items, q.expand) : [];
    return { items, total, ...(counted > TOTAL_CAP ? { totalCapped: true } : {}), page: q.page, perPage: q.perPage, ...(truncated.length > 0 ? { expandTruncated: truncated } : {}) };
  }

  /**
   * Free-text search: a case-insensitive substring over the string, text and email fields the caller
   * may filter on. Fields they cannot read on every row are left out, so a search is never an oracle
   * for a masked or hidden value; with no such field, nothing matches.
   */
  private searchCondition(p: Plan, term: string): RawBuilder<SqlBool> {
    const t = tableOf(p.def.name);
    const { perGrant } = this.fieldsOf(p);
    if (hasNul(term)) throw new AppError('FILTER_INVALID', { message: 'text may not contain the NUL character' });
    const fields = p.def.fields.filter((f) => (f.type === 'string' || f.type === 'text' || f.type === 'email') && perGrant.every((g) => g.has(f.name)));
    if (fields.length === 0) return sql<SqlBool>`1 = 0`;
    const pattern = `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    return sql<SqlBool>`(${sql.join(fields.map((f) => sql`lower(${sql.ref(`${t}.${f.name}`)}) like ${pattern} escape '\\'`), sql` or `)})`;
  }

  /**
   * Relation expansion, through this same service: `customer` puts the related record (as the caller
   * may see it in the target collection, or null) under `expand.customer`; `orders:customer` puts the
   * records of `orders` whose `customer` is this row under `expand["orders:customer"]`. A relation field
   * the caller cannot read on a row is not expanded on that row. Returns the reverse expansions that
   * hit the cap.
   */
  private async expand(caller: Caller, p: Plan, items: RecordOut[], spec: string): Promise<string[]> {
    const names = [...new Set(spec.split(',').filter(Boolean))];
    if (names.length > 5) throw new AppError('EXPAND_INVALID', { message: 'at most 5 expansions' });
    const truncated: string[] = [];
    const put = (item: RecordOut, name: string, value: unknown) => {
      item.expand = { ...(item.expand as Record<string, unknown> | undefined), [name]: value };
    };
    for (const name of names) {
      const [source, via, ...rest] = name.split(':');
      if (via !== undefined) {
        const def = rest.length === 0 ? await this.registry.get(source!) : null;
        const f = def?.fields.find((x) => x.name === via);
        if (!def || f?.type !== 'relation' || f.target !== p.def.name) throw new AppError('EXPAND_INVALID', { message: `${name.slice(0, 60)} is not collection:relation pointing here` });
        const ids = items.map((i) => String(i.id));
        let related: { items: RecordOut[] };
        try {
          related = ids.length === 0 ? { items: [] } : await this.list(caller, def.name, { filter: { [via]: { $in: ids } }, page: 1, perPage: EXPAND_MAX + 1 });
        } catch (e) {
          // A collection the caller has no grant on, or a field they know nothing of, answers like one that does not exist.
          if (e instanceof AppError && (e.code === 'NOT_FOUND' || e.code === 'FIELD_UNKNOWN')) throw new AppError('EXPAND_INVALID', { message: `${name.slice(0, 60)} is not collection:relation pointing here` });
          throw e;
        }
        if (related.items.length > EXPAND_MAX) truncated.push(name);
        for (const item of items) put(item, name, related.items.slice(0, EXPAND_MAX).filter((r) => r[via] === item.id));
        continue;
      }
      const f = p.def.fields.find((x) => x.name === source);
      if (f?.type !== 'relation' || !p.known.has(f.name)) throw new AppError('EXPAND_INVALID', { message: `${name.slice(0, 60)} is not a relation field` });
      const ids = [...new Set(items.map((i) => i[f.name]).filter((v): v is string => typeof v === 'string'))];
      let found: RecordOut[];
      try {
        found = ids.length === 0 ? [] : (await this.list(caller, f.target!, { filter: { id: { $in: ids } }, page: 1, perPage: ids.length })).items;
      } catch (e) {
        // The relation field is known to the caller, so its target is too: no grant there is a plain 403.
        if (e instanceof AppError && e.code === 'NOT_FOUND') throw new AppError('FORBIDDEN', undefined, `no grant on ${f.target}`);
        throw e;
      }
      const byId = new Map(found.map((r) => [r.id, r]));
      for (const item of items) if (f.name in item) put(item, f.name, item[f.name] === null ? null : byId.get(item[f.name]) ?? null);
    }
    return truncated;
  }

  /**
   * Aggregates (count, sum, avg, min, max), optionally grouped by up to three fields, over the records
   * the caller may view. Grouped and measured fields must be readable on every row the caller can see
   * (the filter-oracle rule), so an aggregate cannot reveal a masked or hidden value.
   */
  async aggregate(caller: Caller, collection: string, q: { filter?: unknown; groupBy?: string; metrics: string }): Promise<{ groups: Array<Record<string, unknown>> }> {
    const p = await this.plan(caller, collection, 'view');
    const t = tableOf(p.def.name);
    const { checkFilterable } = this.fieldsOf(p);
    const fieldNamed = (name: string): FieldDef => {
      checkFilterable(name);
      const sys = SYSTEM_COLUMNS[name];
      if (sys) return { name: sys, type: name === 'createdAt' || name === 'updatedAt' ? 'datetime' : 'string' };
      return p.def.fields.find((f) => f.name === name)!;
    };
    const groupBy = (q.groupBy ?? '').split(',').filter(Boolean);
    if (groupBy.length > 3) throw new AppError('FILTER_INVALID', { message: 'group by at most 3 fields' });
    const groups = groupBy.map((name) => {
      const f = fieldNamed(name);
      if (f.type === 'members' || f.type === 'json' || f.type === 'text') throw new AppError('FILTER_INVALID', { message: `cannot group by ${name}` });
      return { name, f };
    });
    const metrics = q.metrics.split(',').filter(Boolean).map((m) => {
      if (m === 'count') return { key: m, fn: 'count', f: null as FieldDef | null };
      const [fn, name, ...more] = m.split(':');
      if (more.length > 0 || !name || !['sum', 'avg', 'min', 'max'].includes(fn!)) throw new AppError('FILTER_INVALID', { message: `a metric is count or sum|avg|min|max:field, not ${m.slice(0, 40)}` });
      const f = fieldNamed(name);
      const numeric = f.type === 'integer' || f.type === 'decimal';
      if (!numeric && !((fn === 'min' || fn === 'max') && f.type === 'datetime')) throw new AppError('FILTER_INVALID', { message: `${fn} needs a number field${fn === 'min' || fn === 'max' ? ' or a date-time' : ''}` });
      return { key: m, fn: fn!, f };
    });
    if (metrics.length === 0 || metrics.length > 10) throw new AppError('FILTER_INVALID', { message: 'name 1 to 10 metrics' });
    const where = [this.scopeOf(p)];
    if (q.filter !== undefined) where.push(await this.userFilter(caller, p, q.filter));
    const cols = groups.map((g, i) => sql`${sql.ref(`${t}.${g.f.name}`)} as ${sql.id(`g${i}`)}`);
    const aggs = metrics.map((m, i) => m.f === null ? sql`count(*) as ${sql.id(`m${i}`)}`
      : sql`${sql.raw(m.fn)}(${sql.ref(`${t}.${m.f.name}`)}) as ${sql.id(`m${i}`)}`);
    const groupSql = groups.length > 0 ? sql` group by ${sql.join(groups.map((g) => sql.ref(`${t}.${g.f.name}`)))} order by ${sql.join(groups.map((g) => sql.ref(`${t}.${g.f.name}`)))}` : sql``;
    const rows = (await sql<Record<string, unknown>>`select ${sql.join([...cols, ...aggs])} from ${sql.table(t)} where ${sql.join(where, sql` and `)}${groupSql} limit ${AGG_GROUPS_MAX + 1}`.execute(this.db)).rows;
    if (rows.length > AGG_GROUPS_MAX) throw new AppError('VALIDATION_FAILED', [{ path: '/groupBy', message: `more than ${AGG_GROUPS_MAX} groups; filter or group by fewer fields` }]);
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

  /** Each row shows the fields of the grants that hold for that row, decoded for JSON. */
  private async shape(p: Plan, rows: Record<string, unknown>[], perGrant: Set<string>[], wanted: Set<string>): Promise<RecordOut[]> {
    const memberFields = p.def.fields.filter((f) => f.type === 'members' && wanted.has(f.name));
    const members = new Map<string, Map<string, string[]>>();
    for (const f of memberFields) {
      const ids = rows.map((r) => String(r.id));
      const m = new Map<string, string[]>();
      if (ids.length > 0) {
        const got = await sql<{ record_id: string; user_id: string }>`select record_id, user_id from ${sql.table(membersTableOf(p.def.name, f.name))} where record_id in (${sql.join(ids)}) order by user_id`.execute(this.db);
        for (const r of got.rows) m.set(r.record_id, [...(m.get(r.record_id) ?? []), r.user_id]);
      }
      members.set(f.name, m);
    }
    return rows.map((row) => {
      const allowed = p.bypass ? perGrant[0]! : new Set(perGrant.flatMap((s, i) => (Number(row[`__g${i}`]) === 1 ? [...s] : [])));
      const out: RecordOut = {};
      for (const [name, col] of SYSTEM_OUT) out[name] = name === 'createdAt' || name === 'updatedAt' ? new Date(Number(row[col])).toISOString() : row[col];
      for (const f of p.def.fields) {
        if (!allowed.has(f.name) || !wanted.has(f.name)) continue;
        out[f.name] = f.type === 'members' ? members.get(f.name)?.get(String(row.id)) ?? [] : decode(f, row[f.name]);
      }
      return out;
    });
  }

  /**
   * Export (ACCESS-8): the same scope, masks and filter rules as a list, under the caller's export
   * grants, page by page so that memory stays flat. Yields the field names first, then records.
   */
  async *exportRecords(caller: Caller, collection: string, q: Omit<ListQuery, 'page' | 'perPage'>): AsyncGenerator<RecordOut | string[]> {
    const p = await this.plan(caller, collection, 'export');
    const names = this.fieldsOf(p).anyReadable;
    // The first page runs before anything is sent, so a refused filter or sort is a clean 400.
    let r = await this.list(caller, collection, { ...q, page: 1, perPage: 200 }, 'export', p);
    yield [...SYSTEM_OUT.map(([n]) => n), ...p.def.fields.filter((f) => names.has(f.name)).map((f) => f.name)];
    for (let page = 2; ; page++) {
      for (const item of r.items) yield item;
      if (r.items.length < 200 || page > 10_000) return;
      r = await this.list(caller, collection, { ...q, page, perPage: 200 }, 'export', p);
    }
  }

  async get(caller: Caller, collection: string, id: string, expand?: string): Promise<RecordOut> {
    const r = await this.list(caller, collection, { filter: { id }, page: 1, perPage: 1, expand });
    if (r.items.length === 0) throw new AppError('NOT_FOUND');
    return r.items[0]!;
  }

  /** Checks a write body: known, non-system fields with values of the right type. Returns column values. */
  private columnsOf(def: CollectionDef, body: unknown, creating: boolean, known?: ReadonlySet<string>): { values: Record<string, unknown>; members: Map<string, string[]>; keys: string[] } {
    if (!isPlainObject(body)) throw new AppError('VALIDATION_FAILED', [{ path: '/', message: 'a record is an object' }]);
    const values: Record<string, unknown> = {};
    const members = new Map<string, string[]>();
    const keys = Object.keys(body);
    for (const k of keys) {
      if (SYSTEM_COLUMNS[k] || k === 'created_at' || k === 'updated_at' || k === 'created_by' || k === 'updated_by') throw new AppError('FIELD_NOT_WRITABLE', { field: k });
      const f = def.fields.find((x) => x.name === k);
      // A field the caller knows nothing of answers like a missing one; the ownership field is part of
      // every caller's model of the collection (the server sets it).
      if (!f || (known && !known.has(k) && ownershipField(def)?.name !== k)) throw new AppError('FIELD_UNKNOWN', { field: k.slice(0, 60) });
      const v = body[k];
      if (f.type === 'members') {
        if (!Array.isArray(v) || v.length > 1000 || !v.every((x) => typeof x === 'string' && x.length <= 64 && !hasNul(x))) throw new AppError('VALIDATION_FAILED', [{ path: `/${k}`, message: 'a list of user ids' }]);
        members.set(k, [...new Set(v as string[])]);
        continue;
      }
      values[k] = encode(f, v);
    }
    if (creating) {
      for (const f of def.fields) {
        if (f.type === 'members' || f.name in values) continue;
        if (f.default !== undefined) values[f.name] = encode(f, f.default);
        else if (f.required) throw new AppError('VALIDATION_FAILED', [{ path: `/${f.name}`, message: 'required' }]);
      }
    } else {
      for (const f of def.fields) if (f.required && f.name in values && values[f.name] === null) throw new AppError('VALIDATION_FAILED', [{ path: `/${f.name}`, message: 'required' }]);
    }
    return { values, members, keys };
  }

  /**
   * The grants that allow writing all of `keys`. The ownership field (members or group mode) is set by
   * the server; only grants of the collection's bypass roles may write it, except that a new record
   * may name one of the caller's own departments as its group.
   */
  private writable(p: Plan, keys: string[], creating = false, body: Record<string, unknown> = {}): Grant[] {
    const of = ownershipField(p.def);
    const bypass = p.def.ownershipBypass ?? [];
    return p.grants.filter((g) => {
      const fields = grantedFields(p.def, g.fields);
      return keys.every((k) => {
        if (of && k === of.name && !bypass.includes(g.role)) {
          const v = body[k];
          return of.type === 'group' && creating && typeof v === 'string' && p.vars.departments.includes(v);
        }
        return fields.has(k);
      });
    });
  }

  /**
   * A unique value may be written only by a caller who reads that field on every record of the
   * collection. For anyone else the database's refusal of a taken value (409) would tell whether a
   * record they cannot see holds it; they get FIELD_NOT_WRITABLE whatever the value (docs/decisions.md).
   */
  private refuseUniqueOutsideView(p: Plan, values: Record<string, unknown>): void {
    if (p.bypass) return;
    const blocked = p.def.fields.filter((f) => f.unique && values[f.name] !== undefined && values[f.name] !== null && !p.wholeView.has(f.name)).map((f) => f.name);
    if (blocked.length > 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: blocked }, 'unique field outside the caller\'s whole view');
  }

  /** The fields among `keys` that none of `grants` lets the caller write. */
  private unwritable(p: Plan, grants: Grant[], keys: string[], creating = false, body: Record<string, unknown> = {}): string[] {
    return keys.filter((k) => this.writable({ ...p, grants }, [k], creating, body).length === 0);
  }

  /** The grants among `grants` that hold for record `id`, evaluated in SQL inside `trx`. */
  private async holding(trx: Db, p: Plan, grants: Grant[], id: string): Promise<Grant[]> {
    if (grants.length === 0) return [];
    const t = tableOf(p.def.name);
    const flags = grants.map((g, i) => sql`case when ${this.condition(p, g)} then 1 else 0 end as ${sql.id(`__g${i}`)}`);
    const row = (await sql<Record<string, unknown>>`select ${sql.join(flags)} from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id}`.execute(trx)).rows[0];
    return row ? grants.filter((_, i) => Number(row[`__g${i}`]) === 1) : [];
  }

  private async writeMembers(trx: Db, def: CollectionDef, id: string, members: Map<string, string[]>): Promise<void> {
    for (const [field, ids] of members) {
      const jt = membersTableOf(def.name, field);
      await sql`delete from ${sql.table(jt)} where record_id = ${id}`.execute(trx);
      if (ids.length === 0) continue;
      const known = await trx.selectFrom('users').select('id').where('id', 'in', ids).execute();
      if (known.length !== ids.length) throw new AppError('VALIDATION_FAILED', [{ path: `/${field}`, message: 'unknown user id' }]);
      for (const u of ids) await sql`insert into ${sql.table(jt)} (record_id, user_id) values (${id}, ${u})`.execute(trx);
    }
  }

  /**
   * The relation and group values among `bodies` that the caller may not point at: a related record must
   * be one the caller can view in the target collection (a hidden record and a missing one answer alike:
   * no existence oracle), and a group must name a department. Read before the write's transaction.
   */
  private async unreachable(caller: Caller, p: Plan, bodies: unknown[]): Promise<Set<string>> {
    const bad = new Set<string>();
    const def = p.def;
    // The ownership group of a caller without a bypass grant can only be one of their own departments:
    // any other name, existing or not, is left to the grant check (FIELD_NOT_WRITABLE), so that the
    // answer never tells whether a department of that name exists.
    // Any other group field of such a caller takes only their own departments too; every other name,
    // existing or not, gets the one answer of a missing department, without a lookup.
    const of = ownershipField(def);
    const anyGroup = p.bypass || p.grants.some((g) => (def.ownershipBypass ?? []).includes(g.role));
    for (const f of def.fields) {
      if (f.type !== 'relation' && f.type !== 'group') continue;
      // A field the caller knows nothing of is refused as unknown by columnsOf, never looked up here.
      if (!p.bypass && !p.known.has(f.name) && of?.name !== f.name) continue;
      // Values with a NUL character are refused by the type check (never sent to the database).
      let values = [...new Set(bodies.flatMap((b) => (isPlainObject(b) && typeof b[f.name] === 'string' && !hasNul(b[f.name] as string) ? [b[f.name] as string] : [])))];
      if (f.type === 'group' && !anyGroup) {
        const foreign = values.filter((v) => !p.vars.departments.includes(v));
        if (of?.name !== f.name) for (const v of foreign) bad.add(`${f.name}\u0000${v}`);
        values = values.filter((v) => p.vars.departments.includes(v));
      }
      for (let i = 0; i < values.length; i += 200) {
        const chunk = values.slice(i, i + 200);
        let found = new Set<unknown>();
        if (f.type === 'group') {
          found = new Set((await this.db.selectFrom('departments').select('name').where('name', 'in', chunk).execute()).map((r) => r.name));
        } else {
          try {
            found = new Set((await this.list(caller, f.target!, { filter: { id: { $in: chunk } }, page: 1, perPage: chunk.length })).items.map((r) => r.id));
          } catch (e) {
            if (!(e instanceof AppError && (e.code === 'FORBIDDEN' || e.code === 'NOT_FOUND'))) throw e;
          }
        }
        for (const v of chunk) if (!found.has(v)) bad.add(`${f.name}\u0000${v}`);
      }
    }
    return bad;
  }

  private refuseUnreachable(def: CollectionDef, body: unknown, bad: ReadonlySet<string>): void {
    if (bad.size === 0 || !isPlainObject(body)) return;
    for (const f of def.fields) {
      const v = body[f.name];
      if (typeof v === 'string' && bad.has(`${f.name}\u0000${v}`)) throw new AppError('VALIDATION_FAILED', [{ path: `/${f.name}`, message: f.type === 'group' ? 'no such department' : 'no such record' }]);
    }
  }

  async create(caller: Caller, collection: string, body: unknown): Promise<RecordOut> {
    const p = await this.plan(caller, collection, 'create');
    this.refuseUnreachable(p.def, body, await this.unreachable(caller, p, [body]));
    const id = await this.db.transaction().execute((trx) => this.insertOne(trx, p, caller, body));
    return this.readBack(caller, collection, id);
  }

  /** One checked insert inside `trx`: fields against the grants, then the new row against their conditions. */
  private async insertOne(trx: Db, p: Plan, caller: Caller, body: unknown): Promise<string> {
    const { values, members, keys } = this.columnsOf(p.def, body, true, p.bypass ? undefined : p.known);
    this.refuseUniqueOutsideView(p, values);
    const fields = body as Record<string, unknown>;
    const candidates = p.bypass ? [] : this.writable(p, keys, true, fields);
    if (!p.bypass && candidates.length === 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: this.unwritable(p, p.grants, keys, true, fields) });
    const of = ownershipField(p.def);
    if (!p.bypass && of && !keys.includes(of.name)) {
      // The server sets the owner: the creator as the first member, or the creator's department.
      if (of.type === 'members') members.set(of.name, [caller.user.id]);
      else if (p.vars.departments.length === 1) values[of.name] = p.vars.departments[0];
      else if (p.vars.departments.length > 1) throw new AppError('VALIDATION_FAILED', [{ path: `/${of.name}`, message: 'name one of your departments' }]);
    }
    const id = randomUUID();
    const now = this.now();
    const row = { id, created_at: now, updated_at: now, created_by: caller.user.id, updated_by: caller.user.id, ...values };
    const cols = Object.keys(row);
    await sql`insert into ${sql.table(tableOf(p.def.name))} (${sql.join(cols.map((c) => sql.id(c)))}) values (${sql.join(cols.map((c) => (row as Record<string, unknown>)[c]))})`.execute(trx);
    await this.writeMembers(trx, p.def, id, members);
    // The new record must lie inside a grant that allows writing these fields.
    if (!p.bypass && (await this.holding(trx, p, candidates, id)).length === 0) throw new AppError('FORBIDDEN', undefined, 'the new record is outside the create grants');
    return id;
  }

  /**
   * Import (ACCESS-8): every row is checked like a create under the caller's import grants, in one
   * transaction. Any refused row rolls back the whole import; the answer lists every row's error.
   */
  async importRecords(caller: Caller, collection: string, rows: unknown[]): Promise<{ imported: number }> {
    const p = await this.plan(caller, collection, 'import');
    if (rows.length > BULK_MAX) throw new AppError('VALIDATION_FAILED', [{ path: '/records', message: `at most ${BULK_MAX} rows` }]);
    const errors: Array<{ row: number; code: string; details?: unknown }> = [];
    const bad = await this.unreachable(caller, p, rows);
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i++) {
        try {
          this.refuseUnreachable(p.def, rows[i], bad);
          // A savepoint per row would let later rows be checked after a failed one; rows are
          // independent inserts, so a failed row simply adds its error and the loop goes on.
          await this.insertOne(trx, p, caller, rows[i]);
        } catch (e) {
          if (e instanceof AppError) {
            errors.push({ row: i + 1, code: e.code, ...(e.details !== undefined ? { details: e.details } : {}) });
            if (errors.length >= 100) break;
            continue;
          }
          // A database refusal (a unique value taken) ends the transaction on PostgreSQL: stop here.
          if (isUniqueViolation(e)) {
            errors.push({ row: i + 1, code: 'CONFLICT' });
            break;
          }
          throw e;
        }
      }
      if (errors.length > 0) throw new AppError('IMPORT_REJECTED', { errors });
      });
    return { imported: rows.length };
  }

  /** CSV import: a header row of field names; cells are converted by field type; an empty cell leaves the field unset (its default applies). */
  async importCsv(caller: Caller, collection: string, text: string): Promise<{ imported: number }> {
    const def = await this.registry.get(collection);
    if (!def) throw new AppError('NOT_FOUND');
    let rows: Record<string, string>[];
    try {
      rows = parseCsv(text, { columns: true, skip_empty_lines: true, bom: true, max_record_size: 100_000, to: BULK_MAX + 1 }) as Record<string, string>[];
    } catch {
      throw new AppError('VALIDATION_FAILED', [{ path: '/csv', message: 'not valid CSV with a header row' }]);
    }
    return this.importRecords(caller, collection, rows.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== '').map(([k, v]) => [k, fromCell(def.fields.find((f) => f.name === k), v)]))));
  }

  async update(caller: Caller, collection: string, id: string, body: unknown): Promise<RecordOut> {
    const p = await this.plan(caller, collection, 'update');
    const { values, members, keys } = this.columnsOf(p.def, body, false, p.bypass ? undefined : p.known);
    this.refuseUniqueOutsideView(p, values);
    this.refuseUnreachable(p.def, body, await this.unreachable(caller, p, [body]));
    await this.outsideAs403(caller, collection, id, () => this.db.transaction().execute(async (trx) => {
      const before = p.bypass ? [] : await this.holding(trx, p, p.grants, id);
      if (!p.bypass && before.length === 0) throw new AppError('NOT_FOUND', undefined, OUTSIDE);
      const candidates = p.bypass ? [] : this.writable({ ...p, grants: before }, keys);
      if (!p.bypass && candidates.length === 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: this.unwritable(p, before, keys) });
      const set = { ...values, updated_at: this.now(), updated_by: caller.user.id };
      const t = tableOf(p.def.name);
      const r = await sql`update ${sql.table(t)} set ${sql.join(Object.entries(set).map(([c, v]) => sql`${sql.id(c)} = ${v}`))} where ${sql.ref(`${t}.id`)} = ${id}`.execute(trx);
      if (Number(r.numAffectedRows ?? 0n) === 0) throw new AppError('NOT_FOUND');
      await this.writeMembers(trx, p.def, id, members);
      // After the change the record must still lie inside one of the grants that allowed it.
      if (!p.bypass && (await this.holding(trx, p, candidates, id)).length === 0) throw new AppError('FORBIDDEN', undefined, 'the change would move the record out of the caller\'s grants');
    }));
    return this.readBack(caller, collection, id);
  }

  async remove(caller: Caller, collection: string, id: string): Promise<void> {
    const p = await this.plan(caller, collection, 'delete');
    await this.outsideAs403(caller, collection, id, () => this.db.transaction().execute(async (trx) => {
      if (!p.bypass && (await this.holding(trx, p, p.grants, id)).length === 0) throw new AppError('NOT_FOUND', undefined, OUTSIDE);
      const t = tableOf(p.def.name);
      const r = await sql`delete from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id}`.execute(trx);
      if (Number(r.numAffectedRows ?? 0n) === 0) throw new AppError('NOT_FOUND');
    }));
  }


  /**
   * The ids of the records in scope of the plan that match a compiled filter, at most `max`. The filter
   * is compiled before the transaction opens: relation paths read other collections' grants, and on
   * SQLite the one connection belongs to the transaction.
   */
  private async idsInScope(trx: Db, p: Plan, filter: RawBuilder<SqlBool>, max: number): Promise<string[]> {
    const t = tableOf(p.def.name);
    const where = sql.join([this.scopeOf(p), filter], sql` and `);
    const rows = (await sql<{ id: string }>`select ${sql.ref(`${t}.id`)} as id from ${sql.table(t)} where ${where} order by ${sql.ref(`${t}.id`)} limit ${max + 1}`.execute(trx)).rows;
    if (rows.length > max) throw new AppError('VALIDATION_FAILED', [{ path: '/filter', message: `matches more than ${max} records; narrow it` }]);
    return rows.map((r) => r.id);
  }

  /** Bulk delete by filter, under the delete grants; all or nothing. */
  async bulkDelete(caller: Caller, collection: string, filter: unknown): Promise<number> {
    const p = await this.plan(caller, collection, 'delete');
    const where = await this.userFilter(caller, p, filter);
    return this.db.transaction().execute(async (trx) => {
      const ids = await this.idsInScope(trx, p, where, BULK_MAX);
      const t = tableOf(p.def.name);
      if (ids.length > 0) await sql`delete from ${sql.table(t)} where ${sql.ref(`${t}.id`)} in (${sql.join(ids)})`.execute(trx);
      return ids.length;
    });
  }

  /**
   * Bulk update by filter, under the update grants: every matched record must allow the fields
   * before the change and still lie inside those grants after it, or nothing changes.
   */
  async bulkUpdate(caller: Caller, collection: string, filter: unknown, set: unknown): Promise<number> {
    const p = await this.plan(caller, collection, 'update');
    const { values, members, keys } = this.columnsOf(p.def, set, false, p.bypass ? undefined : p.known);
    if (members.size > 0) throw new AppError('VALIDATION_FAILED', [{ path: '/set', message: 'member lists are changed one record at a time' }]);
    this.refuseUniqueOutsideView(p, values);
    this.refuseUnreachable(p.def, set, await this.unreachable(caller, p, [set]));
    const candidates = p.bypass ? [] : this.writable(p, keys);
    if (!p.bypass && candidates.length === 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: this.unwritable(p, p.grants, keys) });
    const narrowed: Plan = p.bypass ? p : { ...p, grants: candidates };
    const where = await this.userFilter(caller, narrowed, filter);
    return this.db.transaction().execute(async (trx) => {
      const ids = await this.idsInScope(trx, narrowed, where, BULK_MAX);
      if (ids.length === 0) return 0;
      const t = tableOf(p.def.name);
      const assignments = Object.entries({ ...values, updated_at: this.now(), updated_by: caller.user.id }).map(([c, v]) => sql`${sql.id(c)} = ${v}`);
      await sql`update ${sql.table(t)} set ${sql.join(assignments)} where ${sql.ref(`${t}.id`)} in (${sql.join(ids)})`.execute(trx);
      if (!p.bypass) {
        const outside = await sql<{ n: number }>`select count(*) as n from ${sql.table(t)} where ${sql.ref(`${t}.id`)} in (${sql.join(ids)}) and not ${this.scopeOf(narrowed)}`.execute(trx);
        if (Number(outside.rows[0]?.n ?? 0) > 0) throw new AppError('FORBIDDEN', undefined, 'the change would move records out of the caller\'s grants');
      }
      return ids.length;
    });
  }

  /**
   * A write on a record outside the caller's write grants answers 404 when they cannot see it either,
   * 403 when they can. Decided after the transaction has ended (SQLite has one connection).
   */
  private async outsideAs403(caller: Caller, collection: string, id: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      if (e instanceof AppError && e.internal === OUTSIDE && (await this.canSee(caller, collection, id))) throw new AppError('FORBIDDEN', undefined, 'visible but not writable');
      throw e;
    }
  }

  /**
   * GET /api/access/explain: for a user and a record, which of their grants hold for each action and
   * which fields each one gives. Read-only; for administrators.
   */
  async explain(user: UsersTable, roles: string[], departments: string[], collection: string, id: string): Promise<{
    bypass: boolean; roles: string[]; exists: boolean;
    actions: Array<{ action: Action; grants: Array<{ id: string; role: string; holds: boolean; fields: string[]; statuses: string[] | null; scope: unknown }> }>;
  }> {
    const def = await this.registry.get(collection);
    if (!def) throw new AppError('NOT_FOUND');
    const t = tableOf(def.name);
    const exists = (await sql`select 1 from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id}`.execute(this.db)).rows.length > 0;
    const all = await this.access.grantsFor(roles, collection);
    const vars: FilterVars = { userId: user.id, roles, departments, now: this.now() };
    const actions = await Promise.all((['view', 'create', 'update', 'delete', 'export', 'import'] as Action[]).map(async (action) => {
      const grants = all.filter((g) => g.actions.includes(action));
      const p: Plan = { def, action, grants, bypass: false, vars, roles, known: knownFields(def, all, roles), wholeView: wholeView(def, all, roles) };
      const holding = exists ? new Set((await this.holding(this.db, p, grants, id)).map((g) => g.id)) : new Set<string>();
      return {
        action,
        grants: grants.map((g) => ({ id: g.id, role: g.role, holds: holding.has(g.id), fields: [...this.readable(p, g)], statuses: g.statuses, scope: g.scope })),
      };
    }));
    return { bypass: user.is_admin === 1, roles, exists, actions };
  }

  /** Whether the caller can view the record (decides 403 against 404 for writes). */
  private async canSee(caller: Caller, collection: string, id: string): Promise<boolean> {
    try {
      await this.get(caller, collection, id);
      return true;
    } catch {
      return false;
    }
  }

  private async readBack(caller: Caller, collection: string, id: string): Promise<RecordOut> {
    try {
      return await this.get(caller, collection, id);
    } catch {
      return { id };
    }
  }
}

/** A CSV cell as a JSON value for its field; anything unparseable stays a string and fails the type check. */
function fromCell(f: FieldDef | undefined, v: string): unknown {
  if (v === '') return null;
  if (!f) return v;
  switch (f.type) {
    case 'integer': return /^-?\d{1,15}$/.test(v) ? Number(v) : v;
    case 'decimal': return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    case 'boolean': return v === 'true' ? true : v === 'false' ? false : v;
    case 'json': try { return JSON.parse(v); } catch { return v; }
    case 'members': return v.split(';').filter(Boolean);
    default: return v;
  }
}


/** A client value as a column value, checked against the field type. */
function encode(f: FieldDef, v: unknown): unknown {
  const bad = (m: string) => new AppError('VALIDATION_FAILED', [{ path: `/${f.name}`, message: m }]);
  if (v === null) return null;
  switch (f.type) {
    case 'string': case 'email': case 'user': case 'relation': case 'group':
      if (typeof v !== 'string' || v.length > 1000) throw bad('a string of at most 1000 characters');
      if (hasNul(v)) throw bad('text may not contain the NUL character');
      // The one address rule (src/mail/address.ts): a stored address may later be mailed or exported.
      if (f.type === 'email' && !isPlainAddress(v)) throw bad('a plain email address such as alice@example.org');
      return v;
    case 'text':
      if (typeof v !== 'string' || v.length > 100_000) throw bad('a string of at most 100000 characters');
      if (hasNul(v)) throw bad('text may not contain the NUL character');
      return v;
    case 'integer':
      if (!Number.isSafeInteger(v)) throw bad('an integer');
      return v;
    case 'decimal':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad('a number');
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') throw bad('true or false');
      return v ? 1 : 0;
    case 'datetime':
      if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw bad('an ISO 8601 date-time');
      return toColumnValue(f, v);
    case 'enum': case 'status':
      if (typeof v !== 'string' || !f.values?.includes(v)) throw bad(`one of ${f.values?.join(', ')}`);
      return v;
    case 'json': {
      if (!jsonWithinBounds(v)) throw bad(`JSON nested at most ${JSON_MAX_DEPTH} levels deep, with at most ${JSON_MAX_NODES} values`);
      const s = JSON.stringify(v);
      if (s.length > 100_000) throw bad('at most 100000 characters of JSON');
      return s;
    }
    default:
      throw bad('not writable');
  }
}

function decode(f: FieldDef, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (f.type) {
    case 'boolean': return Number(v) === 1;
    case 'datetime': return new Date(Number(v)).toISOString();
    case 'decimal': case 'integer': return Number(v);
    case 'json': return JSON.parse(String(v));
    default: return v;
  }
}
