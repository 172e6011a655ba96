/**
 * The access plan compiler: from a caller and a collection definition, one plan for one action. It
 * gives the row scope as a SQL condition, the per-row field flags, the field mask, what may be
 * written and what may be filtered on. Pure: it compiles SQL, it runs none (records executes it).
 */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { AppError, HIDDEN } from '../errors.js';
import { compileFilter, type FilterVars } from '../collections/filter.js';
import { grantedFields, isClassSecret, membersTableOf, ownershipField, tableOf, type CollectionDef } from '../collections/schema.js';
import { bypassesOwnership, filterableOf, isSystemField, knownFields, ownedBy, readableUnder, rowsCover, scopeFields, wholeView } from './rules.js';
import type { Action, Grant } from './types.js';
import { entryOf } from '../util/memo.js';

/** Who asks, as the plan needs it. */
export interface Asker {
  userId: string;
  admin: boolean;
  /** The roles the request acts with (the active role, or the union of all held). */
  roles: string[];
  departments: string[];
}

/** One access decision for a request: the collection, the grants for the action, and the caller's variables. */
export interface Plan {
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

/**
 * Compiles the plan of `who` for `action` on `def`, from all of their grants on the collection (any
 * action). No grant of any kind: NOT_FOUND (the collection does not exist for them); none for the
 * action: FORBIDDEN. An administrator bypasses grants (pass no grants).
 */
export function compilePlan(def: CollectionDef, who: Asker, all: readonly Grant[], action: Action, now: number): Plan {
  const vars: FilterVars = { userId: who.userId, roles: who.roles, departments: who.departments, now };
  if (who.admin) {
    const every = new Set(def.fields.map((f) => f.name));
    return { def, action, grants: [], bypass: true, vars, roles: who.roles, known: every, wholeView: every };
  }
  if (all.length === 0) throw new AppError('NOT_FOUND', undefined, HIDDEN.grant);
  const d = derivedOf(def, all, action, who.roles);
  if (d.grants.length === 0) throw new AppError('FORBIDDEN', undefined, `no ${action} grant on ${def.name}`);
  return { def, action, grants: d.grants, bypass: false, vars, roles: who.roles, known: d.known, wholeView: d.wholeView };
}

/** Shared by every plan of the combination: never changed once made. */
interface Derived {
  grants: Grant[];
  known: Set<string>;
  wholeView: Set<string>;
}
/**
 * What a plan takes from the definition, the grants and the roles alone, worked out once per combination: the
 * definition and the grant list are the caches' objects (the registry's, `grantsFor`'s), the same while their stamp
 * is, so a request reuses what the previous one derived (issue 14). A change gives new objects and a new entry.
 */
const derived = new WeakMap<CollectionDef, WeakMap<readonly Grant[], Map<string, Derived>>>();

function derivedOf(def: CollectionDef, all: readonly Grant[], action: Action, roles: readonly string[]): Derived {
  const byKey = entryOf(
    entryOf(derived, def, () => new WeakMap()),
    all,
    () => new Map(),
  );
  const key = JSON.stringify([action, roles]);
  let d = byKey.get(key);
  if (!d) {
    d = { grants: all.filter((g) => g.actions.includes(action)), known: knownFields(def, all, roles), wholeView: wholeView(def, all, roles) };
    // Bounded: the role combinations a collection's grants meet are few, but a key is the caller's.
    if (byKey.size >= 64) byKey.clear();
    byKey.set(key, d);
  }
  return d;
}

/** A plan over the given grants, without the refusals (for `explain` and for an empty read plan). */
export function planOf(def: CollectionDef, who: Omit<Asker, 'admin'>, all: readonly Grant[], action: Action, grants: Grant[], now: number): Plan {
  const vars: FilterVars = { userId: who.userId, roles: who.roles, departments: who.departments, now };
  return { def, action, grants, bypass: false, vars, roles: who.roles, known: knownFields(def, all, who.roles), wholeView: wholeView(def, all, who.roles) };
}

/** The SQL condition under which a grant holds for a row: its scope, its statuses, the ownership mode. */
export function condition(p: Plan, g: Grant, t = tableOf(p.def.name)): RawBuilder<SqlBool> {
  const parts: RawBuilder<SqlBool>[] = [];
  if (g.scope) parts.push(compileFilter(g.scope, { def: p.def, vars: p.vars, alias: t }));
  if (g.statuses) {
    const status = p.def.fields.find((f) => f.type === 'status');
    parts.push(!status || g.statuses.length === 0 ? sql<SqlBool>`1 = 0` : sql<SqlBool>`${sql.ref(`${t}.${status.name}`)} in (${sql.join(g.statuses)})`);
  }
  // Ownership adds a row filter to every grant, except grants of the collection's bypass roles.
  const owned = ownedBy(p.def, g);
  const of = ownershipField(p.def);
  if (owned && p.def.ownership === 'creator') parts.push(sql<SqlBool>`${sql.ref(`${t}.created_by`)} = ${p.vars.userId}`);
  if (owned && p.def.ownership === 'members' && of) {
    parts.push(
      sql<SqlBool>`exists (select 1 from ${sql.table(membersTableOf(p.def.name, of.name))} o where o.record_id = ${sql.ref(`${t}.id`)} and o.user_id = ${p.vars.userId})`,
    );
  }
  if (owned && p.def.ownership === 'group' && of) {
    parts.push(p.vars.departments.length === 0 ? sql<SqlBool>`1 = 0` : sql<SqlBool>`${sql.ref(`${t}.${of.name}`)} in (${sql.join(p.vars.departments)})`);
  }
  return parts.length === 0 ? sql<SqlBool>`1 = 1` : sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
}

/** Whether grant `h` reaches every row grant `g` does on this collection (ownership included). */
export const covers = (def: CollectionDef, h: Grant, g: Grant): boolean => rowsCover(h, g) && (!ownedBy(def, h) || ownedBy(def, g));

/**
 * The row scope of a plan: the OR of its grants' conditions. A grant whose rows another grant already
 * covers adds nothing to the OR and is left out of it, which keeps the WHERE on one index; its per-row
 * field flag is still computed.
 */
export function scopeOf(p: Plan, alias?: string): RawBuilder<SqlBool> {
  if (p.bypass) return sql<SqlBool>`1 = 1`;
  if (p.grants.length === 0) return sql<SqlBool>`1 = 0`;
  const c = (h: Grant, g: Grant) => covers(p.def, h, g);
  const needed = p.grants.filter((g, i) => !p.grants.some((h, j) => j !== i && c(h, g) && (!c(g, h) || j < i)));
  return sql<SqlBool>`(${sql.join(
    needed.map((g) => condition(p, g, alias)),
    sql` or `,
  )})`;
}

/**
 * The rows outside the plan's scope. Not `not scope`: a scope that compares a null column is unknown, not false, and
 * `not unknown` is unknown too, so a row moved to null would count as neither inside nor outside.
 */
export function outsideScope(p: Plan, alias?: string): RawBuilder<SqlBool> {
  return sql<SqlBool>`(case when ${scopeOf(p, alias)} then 0 else 1 end) = 1`;
}

/** The per-row flags: column `__g<i>` is 1 where `grants[i]` holds for the row. */
export function rowFlags(p: Plan, grants: readonly Grant[]): RawBuilder<unknown>[] {
  return grants.map((g, i) => sql`case when ${condition(p, g)} then 1 else 0 end as ${sql.id(`__g${i}`)}`);
}

/** The fields `row` may show: those of the grants whose flag is set on it (all readable ones for a bypass). */
export function maskOf(p: Plan, perGrant: ReadonlyArray<ReadonlySet<string>>, row: Record<string, unknown>): ReadonlySet<string> {
  return p.bypass ? perGrant[0]! : new Set(perGrant.flatMap((s, i) => (Number(row[`__g${i}`]) === 1 ? [...s] : [])));
}

/** The system fields a record keeps from its creation on (an erasure that clears the creator erases the record's history too). */
const FIXED_AT_CREATION: ReadonlySet<string> = new Set(['id', 'createdAt', 'createdBy']);

/**
 * The fields of `row` the caller reads whatever values the record held over time, so a history of them (status
 * times) shows nothing they could not have seen at each moment: all for a bypass; else those of the grants that
 * hold on the row and whose condition looks only at what never changes after creation: no status list, a scope
 * naming only the id, creation time or creator, no ownership filter but by creator. A status list, a scope on any
 * other field (a region) and group or members ownership hold on some versions of a record only.
 */
export function steadyMaskOf(p: Plan, perGrant: ReadonlyArray<ReadonlySet<string>>, row: Record<string, unknown>): ReadonlySet<string> {
  if (p.bypass) return perGrant[0]!;
  const steady = (g: Grant) =>
    g.statuses === null && (!ownedBy(p.def, g) || p.def.ownership === 'creator') && [...scopeFields(g.scope)].every((f) => FIXED_AT_CREATION.has(f));
  return new Set(perGrant.flatMap((s, i) => (Number(row[`__g${i}`]) === 1 && steady(p.grants[i]!) ? [...s] : [])));
}

/** Shared by every plan of the same definition, grant list and roles (`fieldsOf`): read-only, copy to change. */
export interface PlanFields {
  /** The readable fields of each grant of the plan, in order (one set for a bypass). */
  perGrant: ReadonlyArray<ReadonlySet<string>>;
  /** The fields readable on some row. */
  anyReadable: ReadonlySet<string>;
  /** The fields readable on every row the caller sees: what may be filtered, sorted, searched on. */
  filterable: ReadonlySet<string>;
  /** Throws FIELD_UNKNOWN (a field the caller knows nothing of) or FIELD_NOT_FILTERABLE. */
  checkFilterable: (name: string) => void;
}

/** The fields of a plan. A field may be filtered or sorted on only where the caller can read it on every row it can see (no filter oracle). */
export function fieldsOf(p: Plan): PlanFields {
  // A plan of compilePlan's shares its grant list and known fields with every plan of the same combination: so do
  // its fields (issue 14). Plans made otherwise (`{ ...p, grants }`) have their own list and work them out anew.
  const byGrants = entryOf(fieldsMemo, p.def, () => new WeakMap());
  const hit = byGrants.get(p.grants);
  if (hit && hit.known === p.known && hit.bypass === p.bypass && sameRoles(hit.roles, p.roles)) return hit.fields;
  const fields = planFields(p);
  byGrants.set(p.grants, { known: p.known, bypass: p.bypass, roles: p.roles, fields });
  return fields;
}

const fieldsMemo = new WeakMap<
  CollectionDef,
  WeakMap<readonly Grant[], { known: Set<string>; bypass: boolean; roles: readonly string[]; fields: PlanFields }>
>();
const sameRoles = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((r, i) => r === b[i]);

function planFields(p: Plan): PlanFields {
  const perGrant = p.bypass ? [readableUnder(p.def, null, p.roles)] : p.grants.map((g) => readableUnder(p.def, g, p.roles));
  const anyReadable = new Set(perGrant.flatMap((x) => [...x]));
  // A secret field is never a query's term (D431): a filter, sort, search or grouping on it would answer
  // questions about values, for every caller alike.
  const filterable = filterableOf(perGrant);
  for (const f of p.def.fields) if (isClassSecret(f)) filterable.delete(f.name);
  const checkFilterable = (name: string) => {
    if (isSystemField(name)) return;
    // A field the caller knows nothing of (backend-only, or in none of their grants) answers as a missing one.
    if (!p.def.fields.some((f) => f.name === name) || !p.known.has(name)) throw new AppError('FIELD_UNKNOWN', { field: name.slice(0, 60) });
    if (!filterable.has(name)) throw new AppError('FIELD_NOT_FILTERABLE', { field: name.slice(0, 60) });
  };
  return { perGrant, anyReadable, filterable, checkFilterable };
}

/**
 * The grants that allow writing all of `keys`. The ownership field (members or group mode) is set by
 * the server; only grants of the collection's bypass roles may write it, except that a new record
 * may name one of the caller's own departments as its group.
 */
export function writable(p: Plan, keys: string[], creating = false, body: Record<string, unknown> = {}): Grant[] {
  const of = ownershipField(p.def);
  return p.grants.filter((g) => {
    const fields = grantedFields(p.def, g.fields);
    return keys.every((k) => {
      if (of && k === of.name && !bypassesOwnership(p.def, g)) {
        const v = body[k];
        return of.type === 'group' && creating && typeof v === 'string' && p.vars.departments.includes(v);
      }
      return fields.has(k);
    });
  });
}

/** The fields among `keys` that none of `grants` lets the caller write. */
export function unwritable(p: Plan, grants: Grant[], keys: string[], creating = false, body: Record<string, unknown> = {}): string[] {
  return keys.filter((k) => writable({ ...p, grants }, [k], creating, body).length === 0);
}

/**
 * A unique value may be written only by a caller who reads that field on every record of the
 * collection. For anyone else the database's refusal of a taken value (409) would tell whether a
 * record they cannot see holds it; they get FIELD_NOT_WRITABLE whatever the value (docs/decisions.md).
 */
export function refuseUniqueOutsideView(p: Plan, values: Record<string, unknown>): void {
  if (p.bypass) return;
  const blocked = p.def.fields
    .filter((f) => f.unique && values[f.name] !== undefined && values[f.name] !== null && !p.wholeView.has(f.name))
    .map((f) => f.name);
  if (blocked.length > 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: blocked }, "unique field outside the caller's whole view");
}

/** Whether the caller may set any group field to a department that is not theirs (a bypass grant, or an administrator). */
export const anyGroup = (p: Plan): boolean => p.bypass || p.grants.some((g) => bypassesOwnership(p.def, g));
