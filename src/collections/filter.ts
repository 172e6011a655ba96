import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { AppError } from '../errors.js';
import { textProblem } from '../util/text.js';
import { SYSTEM_COLUMNS, isSystemDatetime, membersTableOf, tableOf, type CollectionDef, type FieldDef } from './schema.js';

/** Variables a scope filter may use. */
export interface FilterVars {
  userId: string;
  roles: string[];
  /** The caller's departments: a list, like roles (use $in / $nin). */
  departments: string[];
  now: number;
}

export type FilterNode = { [key: string]: unknown };

const OPERATORS = new Set(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$like', '$ilike', '$null']);
const MAX_DEPTH = 8;
const MAX_NODES = 100;
/** The values one filter may hold, its lists' items included, its relation paths' too (D466). */
const MAX_VALUES = 1000;

/** System fields as clients name them, and their columns (defined once in schema.ts). */
export { SYSTEM_COLUMNS };

export interface FilterContext {
  def: CollectionDef;
  vars: FilterVars;
  /** Called with every field the filter names (the filter-oracle check). */
  onField?: (field: string) => void;
  /** The name the collection's table goes by in the query (default: the table itself). */
  alias?: string;
  /**
   * Relation paths (`customer.name`): the target of a relation field as the caller may see it. Without
   * it, relation paths are refused (grant scopes cannot use them).
   */
  relation?: (field: string) => RelationContext;
}

/** A relation's target collection as one caller sees it: their view scope there and their filter check. */
export interface RelationContext {
  def: CollectionDef;
  alias: string;
  scope: RawBuilder<SqlBool>;
  onField: (field: string) => void;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Resolves `$user.id`, `$user.roles`, `$user.department` and `$now`; any other string starting with `$` is refused. */
function resolve(v: unknown, vars: FilterVars): unknown {
  if (typeof v !== 'string' || !v.startsWith('$')) return v;
  if (v === '$user.id') return vars.userId;
  if (v === '$user.roles') return vars.roles;
  if (v === '$user.department') return vars.departments;
  if (v === '$now') return vars.now;
  throw new AppError('FILTER_INVALID', { message: `unknown variable ${v.slice(0, 40)}` });
}

/** A filter's text (its JSON came inside a query string, past the request's own check): no NUL, no lone surrogate (D466). */
function refuseText(v: string): void {
  const p = textProblem(v);
  if (p === 'nul') throw new AppError('FILTER_INVALID', { message: 'text may not contain the NUL character' });
  if (p) throw new AppError('FILTER_INVALID', { message: 'text must be well-formed Unicode' });
}

/** A client value as stored: booleans as 0/1, datetimes as epoch milliseconds. */
export function toColumnValue(f: FieldDef | null, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (f?.type === 'boolean' && typeof v === 'boolean') return v ? 1 : 0;
  if (f?.type === 'datetime' && typeof v === 'string') {
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) throw new AppError('FILTER_INVALID', { message: `not a date-time: ${v.slice(0, 40)}` });
    return ms;
  }
  if (typeof v === 'object') throw new AppError('FILTER_INVALID', { message: 'a value must be a string, number, boolean or null' });
  if (typeof v === 'string') refuseText(v);
  // A value of the wrong type would be a database error (a 500) on PostgreSQL: refuse it here.
  const numeric = f?.type === 'integer' || f?.type === 'decimal' || f?.type === 'datetime';
  if (numeric && (typeof v !== 'number' || !Number.isFinite(v))) throw new AppError('FILTER_INVALID', { message: `${f!.name.slice(0, 40)} takes a number` });
  // Integer and date-time columns are 64-bit integers: a fraction or a number past 2^53 is refused
  // before PostgreSQL would fail on it (SQLite would silently compare it as a float).
  if ((f?.type === 'integer' || f?.type === 'datetime') && !Number.isSafeInteger(v))
    throw new AppError('FILTER_INVALID', { message: `${f.name.slice(0, 40)} takes a whole number of at most 2^53` });
  if (f?.type === 'boolean') throw new AppError('FILTER_INVALID', { message: `${f.name.slice(0, 40)} takes true or false` });
  if (!numeric && typeof v !== 'string') throw new AppError('FILTER_INVALID', { message: `${(f?.name ?? 'this field').slice(0, 40)} takes a string` });
  return v;
}

function fieldOf(def: CollectionDef, name: string): { column: string; field: FieldDef | null } {
  const sys = SYSTEM_COLUMNS[name];
  if (sys) return { column: sys, field: isSystemDatetime(name) ? { name, type: 'datetime' } : null };
  const f = def.fields.find((x) => x.name === name);
  if (!f) throw new AppError('FIELD_UNKNOWN', { field: name.slice(0, 60) });
  return { column: f.name, field: f };
}

/**
 * Compiles the JSON filter language to a parameterised SQL condition. Identifiers come only from
 * the collection definition; every value is a parameter; `$in` with an empty list is false and
 * `$nin` with an empty list is true, whatever a variable held.
 */
export function compileFilter(node: unknown, ctx: FilterContext, budget = { values: 0 }): RawBuilder<SqlBool> {
  let count = 0;
  const spend = (n: number) => {
    budget.values += n;
    if (budget.values > MAX_VALUES) throw new AppError('FILTER_INVALID', { message: `the filter holds more than ${MAX_VALUES} values` });
  };
  const table = ctx.alias ?? tableOf(ctx.def.name);
  const walk = (n: unknown, depth: number): RawBuilder<SqlBool> => {
    if (++count > MAX_NODES || depth > MAX_DEPTH) throw new AppError('FILTER_INVALID', { message: 'the filter is too large or too deep' });
    if (!isPlainObject(n)) throw new AppError('FILTER_INVALID', { message: 'a filter is an object' });
    const parts: RawBuilder<SqlBool>[] = [];
    for (const [key, value] of Object.entries(n)) {
      if (key === '$and' || key === '$or') {
        if (!Array.isArray(value) || value.length === 0 || value.length > 50)
          throw new AppError('FILTER_INVALID', { message: `${key} takes a non-empty list` });
        const subs = value.map((v) => walk(v, depth + 1));
        parts.push(sql<SqlBool>`(${sql.join(subs, key === '$and' ? sql` and ` : sql` or `)})`);
      } else if (key === '$not') {
        parts.push(sql<SqlBool>`not (${walk(value, depth + 1)})`);
      } else if (key.startsWith('$')) {
        throw new AppError('FILTER_INVALID', { message: `unknown operator ${key.slice(0, 20)}` });
      } else if (key.includes('.')) {
        parts.push(pathCondition(key, value));
      } else {
        ctx.onField?.(key);
        parts.push(fieldCondition(key, value, depth));
      }
    }
    if (parts.length === 0) return sql<SqlBool>`1 = 1`;
    return parts.length === 1 ? parts[0]! : sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
  };

  /**
   * `rel.field`: true where the related record lies in the caller's view scope of the target collection
   * and matches; the target field must be filterable there, and the relation field here.
   */
  const pathCondition = (key: string, spec: unknown): RawBuilder<SqlBool> => {
    const [rel, sub, ...more] = key.split('.');
    if (more.length > 0 || !rel || !sub) throw new AppError('FILTER_INVALID', { message: 'a relation path has one dot: relation.field' });
    ctx.onField?.(rel);
    const { field } = fieldOf(ctx.def, rel);
    if (field?.type !== 'relation') throw new AppError('FILTER_INVALID', { message: `${rel.slice(0, 40)} is not a relation` });
    if (!ctx.relation) throw new AppError('FILTER_INVALID', { message: 'relation paths are not allowed here' });
    const r = ctx.relation(rel);
    const inner = compileFilter({ [sub]: spec }, { def: r.def, vars: ctx.vars, alias: r.alias, onField: r.onField }, budget);
    return sql<SqlBool>`exists (select 1 from ${sql.table(tableOf(r.def.name))} as ${sql.id(r.alias)} where ${sql.ref(`${r.alias}.id`)} = ${sql.ref(`${table}.${rel}`)} and ${r.scope} and ${inner})`;
  };

  const fieldCondition = (name: string, spec: unknown, depth: number): RawBuilder<SqlBool> => {
    const { column, field } = fieldOf(ctx.def, name);
    const ops = isPlainObject(spec) ? spec : { $eq: spec };
    const conds: RawBuilder<SqlBool>[] = [];
    for (const [op, raw] of Object.entries(ops)) {
      if (!OPERATORS.has(op)) throw new AppError('FILTER_INVALID', { message: `unknown operator ${op.slice(0, 20)}` });
      if (++count > MAX_NODES || depth > MAX_DEPTH) throw new AppError('FILTER_INVALID', { message: 'the filter is too large' });
      const v = resolve(raw, ctx.vars);
      spend(Array.isArray(v) ? v.length : 1);
      if (field?.type === 'file') throw new AppError('FILTER_INVALID', { message: `cannot filter on the file field ${name.slice(0, 40)}` });
      if (field?.type === 'members') {
        conds.push(membersCondition(ctx.def, table, field, op, v));
        continue;
      }
      const col = sql.ref(`${table}.${column}`);
      switch (op) {
        case '$null':
          conds.push(v ? sql<SqlBool>`${col} is null` : sql<SqlBool>`${col} is not null`);
          break;
        case '$eq':
          conds.push(v === null ? sql<SqlBool>`${col} is null` : sql<SqlBool>`${col} = ${toColumnValue(field, v)}`);
          break;
        case '$ne':
          conds.push(v === null ? sql<SqlBool>`${col} is not null` : sql<SqlBool>`(${col} is null or ${col} <> ${toColumnValue(field, v)})`);
          break;
        case '$gt':
          conds.push(sql<SqlBool>`${col} > ${toColumnValue(field, v)}`);
          break;
        case '$gte':
          conds.push(sql<SqlBool>`${col} >= ${toColumnValue(field, v)}`);
          break;
        case '$lt':
          conds.push(sql<SqlBool>`${col} < ${toColumnValue(field, v)}`);
          break;
        case '$lte':
          conds.push(sql<SqlBool>`${col} <= ${toColumnValue(field, v)}`);
          break;
        case '$like':
        case '$ilike': {
          if (typeof v !== 'string' || v.length > 200) throw new AppError('FILTER_INVALID', { message: `${op} takes a string` });
          if (field && !['string', 'text', 'email', 'enum', 'status', 'user', 'relation', 'group'].includes(field.type))
            throw new AppError('FILTER_INVALID', { message: `${op} applies to text fields` });
          checkLikePattern(v);
          conds.push(op === '$like' ? sql<SqlBool>`${col} like ${v} escape '\\'` : sql<SqlBool>`lower(${col}) like lower(${v}) escape '\\'`);
          break;
        }
        case '$in':
        case '$nin': {
          const list = v === null || v === undefined ? [] : v;
          if (!Array.isArray(list) || list.length > 500) throw new AppError('FILTER_INVALID', { message: `${op} takes a list` });
          const vals = list.map((x) => toColumnValue(field, x));
          if (vals.length === 0) conds.push(op === '$in' ? sql<SqlBool>`1 = 0` : sql<SqlBool>`1 = 1`);
          else conds.push(op === '$in' ? sql<SqlBool>`${col} in (${sql.join(vals)})` : sql<SqlBool>`(${col} is null or ${col} not in (${sql.join(vals)}))`);
          break;
        }
      }
    }
    if (conds.length === 0) throw new AppError('FILTER_INVALID', { message: `no condition for ${name.slice(0, 40)}` });
    return conds.length === 1 ? conds[0]! : sql<SqlBool>`(${sql.join(conds, sql` and `)})`;
  };
  return walk(node, 0);
}

/** The relation paths (`rel.field` keys) a filter names, anywhere in it. */
export function relationPaths(node: unknown, out: Set<string> = new Set(), depth = 0): Set<string> {
  if (depth > MAX_DEPTH + 2) return out;
  if (Array.isArray(node)) for (const n of node) relationPaths(n, out, depth + 1);
  else if (isPlainObject(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (k.includes('.') && !k.startsWith('$')) out.add(k);
      relationPaths(v, out, depth + 1);
    }
  }
  return out;
}

/**
 * LIKE patterns mean the same on both dialects: `%` and `_` are wildcards and the escape character is
 * always a backslash (`ESCAPE '\'` is written out, as PostgreSQL's default differs from SQLite's).
 * A backslash may only precede `%`, `_` or another backslash, so a trailing or stray backslash is a
 * client error, not a database one.
 */
export function checkLikePattern(v: string): void {
  refuseText(v);
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== '\\') continue;
    const next = v[i + 1];
    if (next !== '%' && next !== '_' && next !== '\\')
      throw new AppError('FILTER_INVALID', { message: 'in a pattern, a backslash escapes only %, _ or a backslash' });
    i++;
  }
}

function membersCondition(def: CollectionDef, table: string, f: FieldDef, op: string, v: unknown): RawBuilder<SqlBool> {
  const jt = membersTableOf(def.name, f.name);
  const exists = (ids: unknown[]) =>
    ids.length === 0
      ? sql<SqlBool>`1 = 0`
      : sql<SqlBool>`exists (select 1 from ${sql.table(jt)} m where m.record_id = ${sql.ref(`${table}.id`)} and m.user_id in (${sql.join(ids)}))`;
  const ids = op === '$eq' && typeof v === 'string' ? [v] : op === '$in' && Array.isArray(v) && v.length <= 500 ? v.filter((x) => typeof x === 'string') : null;
  if (ids !== null) {
    for (const x of ids) refuseText(x);
    return exists(ids);
  }
  throw new AppError('FILTER_INVALID', { message: `a member list takes $eq or $in with user ids` });
}
