/**
 * Plans for records operations: loads the collection and the caller's grants, asks the access engine
 * for the plan, and compiles client filters (with relation paths) under it.
 */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { AppError } from '../errors.js';
import { compileFilter, relationPaths, type RelationContext } from '../collections/filter.js';
import type { Action } from '../access/types.js';
import { READ_ACTIONS } from '../access/rules.js';
import { compilePlan, fieldsOf, scopeOf, type Plan } from '../access/plan.js';
import type { Caller, RecordsContext } from './context.js';

/** The caller's plan for `action` on a collection; an administrator's data action is audited as record.bypass. */
export async function plan(rc: RecordsContext, caller: Caller, collection: string, action: Action): Promise<Plan> {
  const def = await rc.registry.get(collection, caller.stamp);
  if (!def) throw new AppError('NOT_FOUND');
  const who = { userId: caller.user.id, admin: caller.admin, roles: caller.roles, departments: caller.departments };
  if (who.admin) {
    await rc.log.record(caller.ctx, { type: 'record.bypass', outcome: 'info', details: { collection, action } });
    return compilePlan(def, who, [], action, rc.now());
  }
  return compilePlan(def, who, await rc.access.grantsFor(caller.roles, collection, caller.stamp), action, rc.now());
}

/**
 * The plan whose fields and rows decide what a filter may name: the plan itself for a read (view,
 * export); for a write (bulk update, bulk delete), the caller's view plan, whatever their write
 * grants say. A caller with no view grant reads nothing: no field is filterable and no row matches.
 */
export async function readPlanOf(rc: RecordsContext, caller: Caller, p: Plan): Promise<Plan> {
  if (p.bypass || READ_ACTIONS.includes(p.action)) return p;
  try {
    return await plan(rc, caller, p.def.name, 'view');
  } catch (e) {
    if (e instanceof AppError && (e.code === 'FORBIDDEN' || e.code === 'NOT_FOUND')) return { ...p, action: 'view', grants: [] };
    throw e;
  }
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
export async function userFilter(rc: RecordsContext, caller: Caller, planned: Plan, filter: unknown): Promise<RawBuilder<SqlBool>> {
  const p = await readPlanOf(rc, caller, planned);
  const compiled = await compileUserFilter(rc, caller, p, filter);
  return p === planned ? compiled : sql<SqlBool>`(${compiled} and ${scopeOf(p)})`;
}

export async function compileUserFilter(rc: RecordsContext, caller: Caller, p: Plan, filter: unknown): Promise<RawBuilder<SqlBool>> {
  const targets = new Map<string, RelationContext>();
  for (const path of relationPaths(filter)) {
    const rel = path.split('.')[0]!;
    const f = p.def.fields.find((x) => x.name === rel);
    if (f?.type !== 'relation' || targets.has(rel)) continue;
    let tp: Plan;
    try {
      tp = await plan(rc, caller, f.target!, 'view');
    } catch (e) {
      if (e instanceof AppError && (e.code === 'FORBIDDEN' || e.code === 'NOT_FOUND')) throw new AppError('FIELD_NOT_FILTERABLE', { field: path.slice(0, 80) });
      throw e;
    }
    const alias = `r_${rel}`;
    targets.set(rel, { def: tp.def, alias, scope: scopeOf(tp, alias), onField: fieldsOf(tp).checkFilterable });
  }
  return compileFilter(filter, {
    def: p.def,
    vars: p.vars,
    onField: fieldsOf(p).checkFilterable,
    relation: (rel) => {
      const r = targets.get(rel);
      if (!r) throw new AppError('FILTER_INVALID', { message: `${rel.slice(0, 40)} is not a relation` });
      return r;
    },
  });
}
