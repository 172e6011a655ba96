import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import type { UsersTable } from '../db/types.js';
import { AppError } from '../errors.js';
import type { CollectionDef } from '../records/schema.js';
import type { CollectionRegistry } from '../records/registry.js';
import { compileFilter, type FilterNode } from '../records/filter.js';
import { FULL_POWER, MENU_KEY, Power, SYSTEM_PERMISSIONS, namedRoles, loadPrincipal, parseList, type Principal, type RolePower } from './principal.js';

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

export interface RoleView {
  name: string;
  description: string | null;
  permissions: string[];
  menus: string[];
}

export interface DepartmentView {
  name: string;
  description: string | null;
  roles: string[];
}

const DEPARTMENT = /^[a-z][a-z0-9_-]{0,40}$/;

/** Roles, departments and grants as a schema file holds them. */
export interface AccessModel {
  roles: Array<{ name: string; description?: string | null; permissions?: string[]; menus?: string[] }>;
  departments: Array<{ name: string; description?: string | null; roles: string[] }>;
  grants: GrantInput[];
}

function checkRoleLists(permissions: readonly string[], menus: readonly string[]): void {
  const problems: Array<{ path: string; message: string }> = [];
  for (const p of permissions) if (!(SYSTEM_PERMISSIONS as readonly string[]).includes(p)) problems.push({ path: '/permissions', message: `unknown permission ${p.slice(0, 40)}` });
  for (const m of menus) if (!MENU_KEY.test(m)) problems.push({ path: '/menus', message: `a menu key is dotted lower-case words: ${m.slice(0, 40)}` });
  if (problems.length > 0) throw new AppError('VALIDATION_FAILED', problems);
}

const toGrant = (r: { id: string; role: string; collection: string; actions: string; fields: string; statuses: string | null; scope: string | null }): Grant => ({
  id: r.id, role: r.role, collection: r.collection, actions: JSON.parse(r.actions), fields: JSON.parse(r.fields),
  statuses: r.statuses ? JSON.parse(r.statuses) : null, scope: r.scope ? JSON.parse(r.scope) : null,
});

/**
 * Roles, departments, role assignments and grants (ACCESS-1 to ACCESS-7). Read from the database on
 * each request. Every change by a non-administrator passes the `Power` check: nobody creates, extends
 * or hands out a role that gives more than they hold, nor manages a user who holds more.
 */
export class AccessStore {
  constructor(private readonly db: Db, private readonly registry: CollectionRegistry, private readonly log: SecurityLog, private readonly now: () => number) {}

  /** The roles a user holds, directly or through a department (the union; no active role applied). */
  async rolesOf(userId: string): Promise<string[]> {
    const user = await this.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    return user ? (await loadPrincipal(this.db, user, null)).held : [];
  }

  /** The roles assigned to the user directly (not through a department). */
  async ownRolesOf(userId: string): Promise<string[]> {
    return (await this.db.selectFrom('user_roles').select('role').where('user_id', '=', userId).orderBy('role').execute()).map((r) => r.role);
  }

  principal(user: UsersTable, activeRole: string | null): Promise<Principal> {
    return loadPrincipal(this.db, user, activeRole);
  }

  async grantsFor(roles: readonly string[], collection: string): Promise<Grant[]> {
    if (roles.length === 0) return [];
    const rows = await this.db.selectFrom('grants').selectAll().where('collection', '=', collection).where('role', 'in', [...roles]).orderBy('created_at').orderBy('id').execute();
    return rows.map(toGrant);
  }

  /** What the named roles give together: their names, permissions, menus and grants. */
  async powerOfRoles(roles: readonly string[]): Promise<RolePower> {
    if (roles.length === 0) return { roles: [], permissions: [], menus: [], grants: [] };
    const [rows, grants] = await Promise.all([
      this.db.selectFrom('roles').select(['permissions', 'menus']).where('name', 'in', [...roles]).execute(),
      this.db.selectFrom('grants').selectAll().where('role', 'in', [...roles]).execute(),
    ]);
    return {
      roles: [...new Set(roles)],
      permissions: [...new Set(rows.flatMap((r) => parseList(r.permissions)))],
      menus: [...new Set(rows.flatMap((r) => parseList(r.menus)))],
      grants: grants.map(toGrant),
    };
  }

  /** The power of an actor acting with `principal`'s roles. */
  async powerOf(principal: Principal): Promise<Power> {
    if (principal.admin) return FULL_POWER;
    const [mine, defs, all] = await Promise.all([this.powerOfRoles(principal.roles), this.registry.list(), this.listGrants()]);
    return new Power(false, new Set(principal.roles), new Set(principal.departments), new Set(mine.permissions), new Set(mine.menus), mine.grants,
      new Map(defs.map((d) => [d.name, d])), namedRoles(defs, all));
  }

  /**
   * Refuses when a non-administrator acts on an administrator or on a user who holds more than they do
   * (roles or departments). The HTTP pipeline runs it for every /api/admin/users/:id… route.
   */
  async checkManageable(power: Power, userId: string): Promise<void> {
    if (power.admin) return;
    const u = await this.db.selectFrom('users').select(['id', 'is_admin']).where('id', '=', userId).executeTakeFirst();
    if (!u) throw new AppError('NOT_FOUND');
    if (u.is_admin === 1) throw new AppError('PRIVILEGE_ESCALATION', { subject: 'user', exceeds: 'administrator' });
    power.check(await this.powerOfRoles(await this.rolesOf(userId)), 'user');
    power.checkDepartments(await this.departmentsOf(userId), 'user');
  }

  async listRoles(): Promise<RoleView[]> {
    const rows = await this.db.selectFrom('roles').select(['name', 'description', 'permissions', 'menus']).orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, description: r.description, permissions: parseList(r.permissions), menus: parseList(r.menus) }));
  }

  async createRole(input: { name: string; description?: string | null; permissions?: string[]; menus?: string[] }, power: Power, ctx: EventContext): Promise<RoleView> {
    const role: RoleView = { name: input.name, description: input.description ?? null, permissions: [...new Set(input.permissions ?? [])].sort(), menus: [...new Set(input.menus ?? [])].sort() };
    if (!ROLE.test(role.name)) throw new AppError('VALIDATION_FAILED', [{ path: '/name', message: 'lower-case letters, digits, _ and -' }]);
    checkRoleLists(role.permissions, role.menus);
    power.check({ roles: [role.name], permissions: role.permissions, menus: role.menus, grants: [] }, `role ${role.name}`);
    if (await this.db.selectFrom('roles').select('name').where('name', '=', role.name).executeTakeFirst()) throw new AppError('CONFLICT', { field: 'name' });
    await this.db.insertInto('roles').values({ name: role.name, description: role.description, permissions: JSON.stringify(role.permissions), menus: JSON.stringify(role.menus), created_at: this.now() }).execute();
    await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'role.created', role } });
    return role;
  }

  async updateRole(name: string, patch: { description?: string | null; permissions?: string[]; menus?: string[] }, power: Power, ctx: EventContext): Promise<RoleView> {
    const before = (await this.listRoles()).find((r) => r.name === name);
    if (!before) throw new AppError('NOT_FOUND');
    const after: RoleView = {
      name, description: patch.description !== undefined ? patch.description : before.description,
      permissions: patch.permissions ? [...new Set(patch.permissions)].sort() : before.permissions,
      menus: patch.menus ? [...new Set(patch.menus)].sort() : before.menus,
    };
    checkRoleLists(after.permissions, after.menus);
    power.check(await this.powerOfRoles([name]), `role ${name}`);
    power.check({ roles: [name], permissions: after.permissions, menus: after.menus, grants: [] }, `role ${name}`);
    await this.db.updateTable('roles').set({ description: after.description, permissions: JSON.stringify(after.permissions), menus: JSON.stringify(after.menus) }).where('name', '=', name).execute();
    await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'role.updated', before, after } });
    return after;
  }

  async deleteRole(name: string, power: Power, ctx: EventContext): Promise<void> {
    if (!(await this.db.selectFrom('roles').select('name').where('name', '=', name).executeTakeFirst())) throw new AppError('NOT_FOUND');
    power.check(await this.powerOfRoles([name]), `role ${name}`);
    await this.db.transaction().execute(async (trx) => {
      // Foreign keys cascade on PostgreSQL; SQLite enforces them too, but the explicit deletes keep both honest.
      await trx.deleteFrom('grants').where('role', '=', name).execute();
      await trx.deleteFrom('user_roles').where('role', '=', name).execute();
      await trx.deleteFrom('department_roles').where('role', '=', name).execute();
      await trx.deleteFrom('roles').where('name', '=', name).execute();
      await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'role.deleted', role: name } }, trx);
    });
  }

  private async knownRoles(trx: Db, roles: readonly string[]): Promise<void> {
    if (roles.length === 0) return;
    const known = new Set((await trx.selectFrom('roles').select('name').where('name', 'in', [...roles]).execute()).map((r) => r.name));
    const unknown = roles.filter((r) => !known.has(r));
    if (unknown.length > 0) throw new AppError('VALIDATION_FAILED', [{ path: '/roles', message: `unknown roles: ${unknown.join(', ')}` }]);
  }

  /** Replaces a user's own roles. Nobody changes their own; nobody hands out more than they hold. The caller checks that the user is theirs to manage. */
  async setUserRoles(userId: string, roles: string[], power: Power, ctx: EventContext): Promise<void> {
    if (ctx.actor.id === userId) throw new AppError('CANNOT_MODIFY_SELF');
    const wanted = [...new Set(roles)];
    await this.knownRoles(this.db, wanted);
    power.check(await this.powerOfRoles(wanted), 'roles');
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('user_roles').where('user_id', '=', userId).execute();
      for (const role of wanted) await trx.insertInto('user_roles').values({ user_id: userId, role }).execute();
      await this.log.record(ctx, { type: 'access.changed', outcome: 'success', subjectId: userId, details: { change: 'user.roles', roles: wanted } }, trx);
    });
  }

  async listDepartments(): Promise<DepartmentView[]> {
    const [depts, links] = await Promise.all([
      this.db.selectFrom('departments').select(['name', 'description']).orderBy('name').execute(),
      this.db.selectFrom('department_roles').select(['department', 'role']).orderBy('role').execute(),
    ]);
    return depts.map((d) => ({ ...d, roles: links.filter((l) => l.department === d.name).map((l) => l.role) }));
  }

  /** Creates or replaces a department and the roles it carries (its members hold them). */
  async putDepartment(input: { name: string; description?: string | null; roles: string[] }, power: Power, ctx: EventContext): Promise<DepartmentView> {
    if (!DEPARTMENT.test(input.name)) throw new AppError('VALIDATION_FAILED', [{ path: '/name', message: 'lower-case letters, digits, _ and -' }]);
    const roles = [...new Set(input.roles)].sort();
    await this.knownRoles(this.db, roles);
    await this.notOwnDepartment(power, input.name, ctx);
    const before = (await this.listDepartments()).find((d) => d.name === input.name) ?? null;
    if (before) power.check(await this.powerOfRoles(before.roles), `department ${input.name}`);
    power.check(await this.powerOfRoles(roles), `department ${input.name}`);
    const after: DepartmentView = { name: input.name, description: input.description ?? null, roles };
    await this.db.transaction().execute(async (trx) => {
      if (before) await trx.updateTable('departments').set({ description: after.description }).where('name', '=', after.name).execute();
      else await trx.insertInto('departments').values({ name: after.name, description: after.description, created_at: this.now() }).execute();
      await trx.deleteFrom('department_roles').where('department', '=', after.name).execute();
      for (const role of roles) await trx.insertInto('department_roles').values({ department: after.name, role }).execute();
      await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: before ? 'department.updated' : 'department.created', before, after } }, trx);
    });
    return after;
  }

  async deleteDepartment(name: string, power: Power, ctx: EventContext): Promise<void> {
    const before = (await this.listDepartments()).find((d) => d.name === name);
    if (!before) throw new AppError('NOT_FOUND');
    await this.notOwnDepartment(power, name, ctx);
    power.check(await this.powerOfRoles(before.roles), `department ${name}`);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('department_roles').where('department', '=', name).execute();
      await trx.deleteFrom('user_departments').where('department', '=', name).execute();
      await trx.deleteFrom('departments').where('name', '=', name).execute();
      await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'department.deleted', department: name } }, trx);
    });
  }

  /** A non-administrator does not change a department they are in: it would change their own roles. */
  private async notOwnDepartment(power: Power, department: string, ctx: EventContext): Promise<void> {
    if (power.admin || ctx.actor.id === null) return;
    if ((await this.departmentsOf(ctx.actor.id)).includes(department)) throw new AppError('CANNOT_MODIFY_SELF');
  }

  async departmentsOf(userId: string): Promise<string[]> {
    return (await this.db.selectFrom('user_departments').select('department').where('user_id', '=', userId).orderBy('department').execute()).map((r) => r.department);
  }

  /** Replaces a user's departments; like roles, since departments carry roles. */
  async setUserDepartments(userId: string, departments: string[], power: Power, ctx: EventContext): Promise<void> {
    if (ctx.actor.id === userId) throw new AppError('CANNOT_MODIFY_SELF');
    const wanted = [...new Set(departments)].sort();
    const all = await this.listDepartments();
    // The power check comes first: a department the caller may not assign answers the same whether it
    // exists or not (only administrators and the department's members, who know it, get further).
    power.checkDepartments(wanted, 'departments');
    const unknown = wanted.filter((d) => !all.some((x) => x.name === d));
    if (unknown.length > 0) throw new AppError('VALIDATION_FAILED', [{ path: '/departments', message: `unknown departments: ${unknown.join(', ')}` }]);
    power.check(await this.powerOfRoles(all.filter((d) => wanted.includes(d.name)).flatMap((d) => d.roles)), 'departments');
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('user_departments').where('user_id', '=', userId).execute();
      for (const department of wanted) await trx.insertInto('user_departments').values({ user_id: userId, department }).execute();
      await this.log.record(ctx, { type: 'access.changed', outcome: 'success', subjectId: userId, details: { change: 'user.departments', departments: wanted } }, trx);
    });
  }

  /** Every problem with a grant, or none. */
  async checkGrant(g: GrantInput, def: CollectionDef | null, knownRoles?: ReadonlySet<string>): Promise<string[]> {
    if (!def) return [`unknown collection ${g.collection}`];
    const problems: string[] = [];
    const roleKnown = knownRoles ? knownRoles.has(g.role) : !!(await this.db.selectFrom('roles').select('name').where('name', '=', g.role).executeTakeFirst());
    if (!roleKnown) problems.push(`unknown role ${g.role}`);
    if (g.actions.length === 0) problems.push('a grant names at least one action');
    for (const a of g.actions) if (!(ACTIONS as readonly string[]).includes(a)) problems.push(`unknown action ${String(a).slice(0, 20)}`);
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
        compileFilter(g.scope, { def, vars: { userId: 'x', roles: [], departments: [], now: 0 } });
      } catch (e) {
        problems.push(`scope: ${e instanceof AppError ? JSON.stringify(e.details ?? e.code) : 'invalid'}`);
      }
    }
    return problems;
  }

  /** Stores a checked grant inside `trx`. */
  async insertGrant(trx: Db, g: GrantInput, ctx: EventContext): Promise<Grant> {
    const grant: Grant = { id: randomUUID(), role: g.role, collection: g.collection, actions: [...new Set(g.actions)], fields: [...new Set(g.fields)], statuses: g.statuses ?? null, scope: g.scope ?? null };
    await trx.insertInto('grants').values({
      id: grant.id, role: grant.role, collection: grant.collection, actions: JSON.stringify(grant.actions), fields: JSON.stringify(grant.fields),
      statuses: grant.statuses ? JSON.stringify(grant.statuses) : null, scope: grant.scope ? JSON.stringify(grant.scope) : null, created_at: this.now(),
    }).execute();
    await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'grant.created', grant } }, trx);
    return grant;
  }

  async addGrant(g: GrantInput, power: Power, ctx: EventContext): Promise<Grant> {
    const def = await this.registry.get(g.collection);
    if (!def) throw new AppError('NOT_FOUND');
    const problems = await this.checkGrant(g, def);
    if (problems.length > 0) throw new AppError('VALIDATION_FAILED', problems.map((message) => ({ path: '/', message })));
    // Nobody extends a role that already gives more than they hold, nor adds a grant wider than their own.
    power.check(await this.powerOfRoles([g.role]), `role ${g.role}`);
    power.check({ roles: [g.role], permissions: [], menus: [], grants: [{ id: '', role: g.role, collection: g.collection, actions: g.actions, fields: g.fields, statuses: g.statuses ?? null, scope: g.scope ?? null }] }, 'grant');
    return this.db.transaction().execute((trx) => this.insertGrant(trx, g, ctx));
  }

  /** Every problem with an access model from a schema file (roles, departments, grants), or none. */
  async checkModel(model: AccessModel, defs: ReadonlyMap<string, CollectionDef>, prune: boolean): Promise<string[]> {
    const problems: string[] = [];
    const fileRoles = new Set<string>();
    for (const r of model.roles) {
      if (!ROLE.test(r.name)) problems.push(`role ${r.name}: lower-case letters, digits, _ and -`);
      if (fileRoles.has(r.name)) problems.push(`role ${r.name}: defined twice`);
      fileRoles.add(r.name);
      try {
        checkRoleLists(r.permissions ?? [], r.menus ?? []);
      } catch (e) {
        problems.push(`role ${r.name}: ${JSON.stringify(e instanceof AppError ? e.details : 'invalid')}`);
      }
    }
    const existing = prune ? new Set<string>() : new Set((await this.listRoles()).map((r) => r.name));
    const depts = new Set<string>();
    for (const d of model.departments) {
      if (!DEPARTMENT.test(d.name)) problems.push(`department ${d.name}: lower-case letters, digits, _ and -`);
      if (depts.has(d.name)) problems.push(`department ${d.name}: defined twice`);
      depts.add(d.name);
      for (const r of d.roles) if (!fileRoles.has(r) && !existing.has(r)) problems.push(`department ${d.name}: unknown role ${r}`);
    }
    for (const g of model.grants) {
      if (!fileRoles.has(g.role)) problems.push(`grant for ${g.role} on ${g.collection}: a grant's role must be in the file's roles`);
      else problems.push(...(await this.checkGrant(g, defs.get(g.collection) ?? null, fileRoles)).map((p) => `grant for ${g.role} on ${g.collection}: ${p}`));
    }
    return problems;
  }

  /**
   * Applies a checked access model in one transaction: roles and departments are created or updated,
   * each file role's grants become exactly the file's, and with `prune` roles and departments missing
   * from the file are deleted (with their grants and assignments). Audited as one access.changed event.
   */
  async applyModel(model: AccessModel, prune: boolean, ctx: EventContext): Promise<{ roles: string[]; departments: string[]; grants: number; removed: string[] }> {
    return this.db.transaction().execute(async (trx) => {
      const removed: string[] = [];
      const known = new Set((await trx.selectFrom('roles').select('name').execute()).map((r) => r.name));
      for (const r of model.roles) {
        const row = { description: r.description ?? null, permissions: JSON.stringify([...new Set(r.permissions ?? [])].sort()), menus: JSON.stringify([...new Set(r.menus ?? [])].sort()) };
        if (known.has(r.name)) await trx.updateTable('roles').set(row).where('name', '=', r.name).execute();
        else await trx.insertInto('roles').values({ name: r.name, ...row, created_at: this.now() }).execute();
        await trx.deleteFrom('grants').where('role', '=', r.name).execute();
      }
      if (prune) {
        const keep = model.roles.map((r) => r.name);
        for (const name of [...known].filter((n) => !keep.includes(n))) {
          for (const table of ['grants', 'user_roles', 'department_roles'] as const) await trx.deleteFrom(table).where('role', '=', name).execute();
          await trx.deleteFrom('roles').where('name', '=', name).execute();
          removed.push(`role ${name}`);
        }
        const keepD = model.departments.map((d) => d.name);
        for (const d of await trx.selectFrom('departments').select('name').execute()) {
          if (keepD.includes(d.name)) continue;
          await trx.deleteFrom('department_roles').where('department', '=', d.name).execute();
          await trx.deleteFrom('user_departments').where('department', '=', d.name).execute();
          await trx.deleteFrom('departments').where('name', '=', d.name).execute();
          removed.push(`department ${d.name}`);
        }
      }
      const depts = new Set((await trx.selectFrom('departments').select('name').execute()).map((d) => d.name));
      for (const d of model.departments) {
        if (depts.has(d.name)) await trx.updateTable('departments').set({ description: d.description ?? null }).where('name', '=', d.name).execute();
        else await trx.insertInto('departments').values({ name: d.name, description: d.description ?? null, created_at: this.now() }).execute();
        await trx.deleteFrom('department_roles').where('department', '=', d.name).execute();
        for (const role of new Set(d.roles)) await trx.insertInto('department_roles').values({ department: d.name, role }).execute();
      }
      for (const g of model.grants) {
        await trx.insertInto('grants').values({
          id: randomUUID(), role: g.role, collection: g.collection, actions: JSON.stringify([...new Set(g.actions)]), fields: JSON.stringify([...new Set(g.fields)]),
          statuses: g.statuses ? JSON.stringify(g.statuses) : null, scope: g.scope ? JSON.stringify(g.scope) : null, created_at: this.now(),
        }).execute();
      }
      const result = { roles: model.roles.map((r) => r.name), departments: model.departments.map((d) => d.name), grants: model.grants.length, removed };
      await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'schema.applied', ...result } }, trx);
      return result;
    });
  }

  /** The whole access model, for `palisade schema export`. */
  async exportModel(): Promise<AccessModel> {
    const roles = (await this.listRoles()).map((r) => ({ name: r.name, ...(r.description ? { description: r.description } : {}), permissions: r.permissions, menus: r.menus }));
    const departments = (await this.listDepartments()).map((d) => ({ name: d.name, ...(d.description ? { description: d.description } : {}), roles: d.roles }));
    const grants = (await this.listGrants()).sort((a, b) => a.role.localeCompare(b.role) || a.collection.localeCompare(b.collection))
      .map(({ id: _id, ...g }) => ({ ...g, ...(g.statuses === null ? { statuses: undefined } : {}), ...(g.scope === null ? { scope: undefined } : {}) }))
      .map((g) => JSON.parse(JSON.stringify(g)) as GrantInput);
    return { roles, departments, grants };
  }

  async listGrants(collection?: string): Promise<Grant[]> {
    let q = this.db.selectFrom('grants').selectAll().orderBy('collection').orderBy('created_at').orderBy('id');
    if (collection) q = q.where('collection', '=', collection);
    return (await q.execute()).map(toGrant);
  }

  async deleteGrant(id: string, power: Power, ctx: EventContext): Promise<void> {
    const row = await this.db.selectFrom('grants').select('role').where('id', '=', id).executeTakeFirst();
    if (!row) throw new AppError('NOT_FOUND');
    power.check(await this.powerOfRoles([row.role]), `role ${row.role}`);
    await this.db.deleteFrom('grants').where('id', '=', id).execute();
    await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'grant.deleted', id } });
  }
}
