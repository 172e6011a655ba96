import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../http/errors.js';
import type { CollectionDef } from '../records/schema.js';
import type { CollectionRegistry } from '../records/registry.js';
import { compileFilter, type FilterNode } from '../records/filter.js';

export const ACTIONS = ['view', 'create', 'update', 'delete', 'export', 'import'] as const;
export type Action = (typeof ACTIONS)[number];

/** A grant: additive, for one role and collection. No grant, no access; no fields, no fields. */
export interface Grant {
  id: string;
  role: string;
  collection: string;
  actions: Action[];
  fields: string[];
  statuses: string[] | null;
  scope: FilterNode | null;
}

export interface GrantInput {
  role: string;
  collection: string;
  actions: Action[];
  fields: string[];
  statuses?: string[] | null;
  scope?: FilterNode | null;
}

const ROLE = /^[a-z][a-z0-9_-]{0,40}$/;

/** The concrete field names a grant's list names (blocks expanded); unknown names are dropped. */
export function grantedFields(def: CollectionDef, entries: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    if (e.startsWith('block:')) {
      const b = e.slice(6);
      for (const f of def.fields) if (f.block === b) out.add(f.name);
    } else if (def.fields.some((f) => f.name === e)) out.add(e);
  }
  return out;
}

/** Roles, role assignments and grants (ACCESS-1, ACCESS-3 to ACCESS-7). Read from the database on each request. */
export class AccessStore {
  constructor(private readonly db: Db, private readonly registry: CollectionRegistry, private readonly log: SecurityLog, private readonly now: () => number) {}

  async rolesOf(userId: string): Promise<string[]> {
    return (await this.db.selectFrom('user_roles').select('role').where('user_id', '=', userId).orderBy('role').execute()).map((r) => r.role);
  }

  async grantsFor(roles: readonly string[], collection: string): Promise<Grant[]> {
    if (roles.length === 0) return [];
    const rows = await this.db.selectFrom('grants').selectAll().where('collection', '=', collection).where('role', 'in', [...roles]).orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({
      id: r.id, role: r.role, collection: r.collection, actions: JSON.parse(r.actions), fields: JSON.parse(r.fields),
      statuses: r.statuses ? JSON.parse(r.statuses) : null, scope: r.scope ? JSON.parse(r.scope) : null,
    }));
  }

  async listRoles(): Promise<Array<{ name: string; description: string | null }>> {
    return this.db.selectFrom('roles').select(['name', 'description']).orderBy('name').execute();
  }

  async createRole(name: string, description: string | null, ctx: EventContext): Promise<void> {
    if (!ROLE.test(name)) throw new AppError('VALIDATION_FAILED', [{ path: '/name', message: 'lower-case letters, digits, _ and -' }]);
    if (await this.db.selectFrom('roles').select('name').where('name', '=', name).executeTakeFirst()) throw new AppError('CONFLICT', { field: 'name' });
    await this.db.insertInto('roles').values({ name, description, created_at: this.now() }).execute();
    await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'role.created', role: name } });
  }

  async deleteRole(name: string, ctx: EventContext): Promise<void> {
    const r = await this.db.deleteFrom('roles').where('name', '=', name).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new AppError('NOT_FOUND');
    await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'role.deleted', role: name } });
  }

  async setUserRoles(userId: string, roles: string[], ctx: EventContext): Promise<void> {
    if (ctx.actor.id === userId) throw new AppError('CANNOT_MODIFY_SELF');
    await this.db.transaction().execute(async (trx) => {
      const known = new Set((await trx.selectFrom('roles').select('name').execute()).map((r) => r.name));
      const unknown = roles.filter((r) => !known.has(r));
      if (unknown.length > 0) throw new AppError('VALIDATION_FAILED', [{ path: '/roles', message: `unknown roles: ${unknown.join(', ')}` }]);
      if (!(await trx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst())) throw new AppError('NOT_FOUND');
      await trx.deleteFrom('user_roles').where('user_id', '=', userId).execute();
      for (const role of new Set(roles)) await trx.insertInto('user_roles').values({ user_id: userId, role }).execute();
      await this.log.record(ctx, { type: 'access.changed', outcome: 'success', subjectId: userId, details: { change: 'user.roles', roles } }, trx);
    });
  }

  async addGrant(g: GrantInput, ctx: EventContext): Promise<Grant> {
    const def = await this.registry.get(g.collection);
    if (!def) throw new AppError('NOT_FOUND');
    const problems: string[] = [];
    if (!(await this.db.selectFrom('roles').select('name').where('name', '=', g.role).executeTakeFirst())) problems.push(`unknown role ${g.role}`);
    if (g.actions.length === 0) problems.push('a grant names at least one action');
    for (const f of g.fields) {
      if (f.startsWith('block:') ? !def.fields.some((x) => x.block === f.slice(6)) : !def.fields.some((x) => x.name === f)) problems.push(`unknown field or block ${f}`);
    }
    const status = def.fields.find((f) => f.type === 'status');
    if (g.statuses) {
      if (!status) problems.push('the collection has no status field');
      else for (const v of g.statuses) if (!status.values?.includes(v)) problems.push(`unknown status ${v}`);
    }
    if (g.scope) {
      try {
        compileFilter(g.scope, { def, vars: { userId: 'x', roles: [], now: 0 } });
      } catch (e) {
        problems.push(`scope: ${e instanceof AppError ? JSON.stringify(e.details ?? e.code) : 'invalid'}`);
      }
    }
    if (problems.length > 0) throw new AppError('VALIDATION_FAILED', problems.map((message) => ({ path: '/', message })));
    const grant: Grant = { id: randomUUID(), role: g.role, collection: g.collection, actions: [...new Set(g.actions)], fields: [...new Set(g.fields)], statuses: g.statuses ?? null, scope: g.scope ?? null };
    await this.db.insertInto('grants').values({
      id: grant.id, role: grant.role, collection: grant.collection, actions: JSON.stringify(grant.actions), fields: JSON.stringify(grant.fields),
      statuses: grant.statuses ? JSON.stringify(grant.statuses) : null, scope: grant.scope ? JSON.stringify(grant.scope) : null, created_at: this.now(),
    }).execute();
    await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'grant.created', grant } });
    return grant;
  }

  async listGrants(collection?: string): Promise<Grant[]> {
    let q = this.db.selectFrom('grants').select('role');
    if (collection) q = q.where('collection', '=', collection);
    const roles = [...new Set((await q.execute()).map((r) => r.role))];
    if (collection) return this.grantsFor(roles, collection);
    const cols = [...new Set((await this.db.selectFrom('grants').select('collection').execute()).map((r) => r.collection))];
    return (await Promise.all(cols.map((c) => this.grantsFor(roles, c)))).flat();
  }

  async deleteGrant(id: string, ctx: EventContext): Promise<void> {
    const r = await this.db.deleteFrom('grants').where('id', '=', id).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new AppError('NOT_FOUND');
    await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'grant.deleted', id } });
  }
}
