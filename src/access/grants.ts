import { randomUUID } from 'node:crypto';
import { StampedCache } from '../util/stamped-cache.js';
import type { Db } from '../db/index.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import type { UsersTable } from '../db/types.js';
import { AppError } from '../errors.js';
import type { CollectionDef } from '../collections/schema.js';
import type { CollectionRegistry } from '../collections/registry.js';
import { checkGrantInput } from './grant-check.js';
import { applyModel, checkModel, exportModel } from './model.js';
import { createRole, deleteRole, listRoles, roleHoldersManageable, setUserRoles, updateRole, type StoreContext } from './roles.js';
import { deleteDepartment, departmentsOf, listDepartments, putDepartment, setUserDepartments } from './departments.js';
import { FULL_POWER, Power, namedRoles, loadPrincipal, parseList, type Principal, type RolePower } from './principal.js';
import { toGrant, type AccessModel, type DepartmentView, type Grant, type GrantInput, type RoleView } from './types.js';

export { ACTIONS, type Action, type Grant, type GrantInput, type RoleView, type DepartmentView, type AccessModel } from './types.js';

/**
 * Roles, departments, role assignments and grants (ACCESS-1 to ACCESS-7). Read from the database on
 * each request, or from caches kept under the request's `access` stamp (D360). Every change by a non-administrator passes the `Power` check: nobody creates, extends
 * or hands out a role that gives more than they hold, nor manages a user who holds more.
 */
export class AccessStore {
  private readonly st: StoreContext;

  constructor(
    private readonly db: Db,
    private readonly registry: CollectionRegistry,
    private readonly log: SecurityLog,
    private readonly now: () => number,
  ) {
    this.st = {
      db,
      log,
      now,
      powerOfRoles: (roles) => this.powerOfRoles(roles),
      checkManageable: (power, userId) => this.checkManageable(power, userId),
    };
  }

  /** The roles a user holds, directly or through a department (the union; no active role applied). */
  async rolesOf(userId: string): Promise<string[]> {
    const user = await this.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    return user ? (await loadPrincipal(this.db, user, null)).held : [];
  }

  /** The roles assigned to the user directly (not through a department). */
  async ownRolesOf(userId: string): Promise<string[]> {
    return (await this.db.selectFrom('user_roles').select('role').where('user_id', '=', userId).orderBy('role').execute()).map((r) => r.role);
  }

  private readonly principals = new StampedCache<Principal>(10_000);
  private readonly grantCache = new StampedCache<Grant[]>(10_000);

  /**
   * `asKey`: an API key acting with `activeRole` only, never with the owner's administrator power. With `stamp` (the
   * `access` stamp read with the request's credential, D360) the principal is kept per instance until a change of the
   * access model moves the stamp, and comes frozen, carrying the stamp; without, it is read afresh.
   */
  principal(user: UsersTable, activeRole: string | null, opts: { asKey?: boolean; stamp?: number } = {}): Promise<Principal> {
    const asKey = opts.asKey ?? false;
    const key = JSON.stringify([user.id, activeRole, asKey, user.is_admin]);
    return this.principals.get(key, opts.stamp, async () => ({ ...(await loadPrincipal(this.db, user, activeRole, asKey)), stamp: opts.stamp }));
  }

  /** The grants of `roles` on a collection; kept under `stamp` as `principal` is. */
  async grantsFor(roles: readonly string[], collection: string, stamp?: number): Promise<Grant[]> {
    if (roles.length === 0) return [];
    return this.grantCache.get(JSON.stringify([collection, roles]), stamp, async () => {
      const rows = await this.db
        .selectFrom('grants')
        .selectAll()
        .where('collection', '=', collection)
        .where('role', 'in', [...roles])
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toGrant);
    });
  }

  /** What the named roles give together: their names, permissions, menus and grants. */
  async powerOfRoles(roles: readonly string[]): Promise<RolePower> {
    if (roles.length === 0) return { roles: [], permissions: [], menus: [], grants: [] };
    const [rows, grants] = await Promise.all([
      this.db
        .selectFrom('roles')
        .select(['permissions', 'menus'])
        .where('name', 'in', [...roles])
        .execute(),
      this.db
        .selectFrom('grants')
        .selectAll()
        .where('role', 'in', [...roles])
        .execute(),
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
    return new Power(
      false,
      new Set(principal.roles),
      new Set(principal.departments),
      new Set(mine.permissions),
      new Set(mine.menus),
      mine.grants,
      new Map(defs.map((d) => [d.name, d])),
      namedRoles(defs, all),
    );
  }

  /**
   * Refuses when a non-administrator acts on an administrator or on a user who holds more than they do
   * (roles or departments). The HTTP pipeline runs it for every /api/admin/users/:id… route, and a change to a
   * department or a role that gives or takes power runs it for every member or holder (`holdersManageable`).
   */
  async checkManageable(power: Power, userId: string): Promise<void> {
    if (power.admin) return;
    const u = await this.db.selectFrom('users').select(['id', 'is_admin']).where('id', '=', userId).executeTakeFirst();
    if (!u) throw new AppError('NOT_FOUND');
    if (u.is_admin === 1) throw new AppError('PRIVILEGE_ESCALATION', { subject: 'user', exceeds: 'administrator' });
    power.check(await this.powerOfRoles(await this.rolesOf(userId)), 'user');
    power.checkDepartments(await this.departmentsOf(userId), 'user');
  }

  listRoles(): Promise<RoleView[]> {
    return listRoles(this.st);
  }

  createRole(
    input: { name: string; description?: string | null; permissions?: string[]; menus?: string[] },
    power: Power,
    ctx: EventContext,
  ): Promise<RoleView> {
    return createRole(this.st, input, power, ctx);
  }

  updateRole(
    name: string,
    patch: { description?: string | null; permissions?: string[]; menus?: string[] },
    power: Power,
    ctx: EventContext,
  ): Promise<RoleView> {
    return updateRole(this.st, name, patch, power, ctx);
  }

  deleteRole(name: string, power: Power, ctx: EventContext): Promise<void> {
    return deleteRole(this.st, name, power, ctx);
  }

  /** Replaces a user's own roles. Nobody changes their own; nobody hands out more than they hold. The caller checks that the user is theirs to manage. */
  setUserRoles(userId: string, roles: string[], power: Power, ctx: EventContext): Promise<void> {
    return setUserRoles(this.st, userId, roles, power, ctx);
  }

  listDepartments(): Promise<DepartmentView[]> {
    return listDepartments(this.st);
  }

  /** Creates or replaces a department and the roles it carries (its members hold them). */
  putDepartment(input: { name: string; description?: string | null; roles: string[] }, power: Power, ctx: EventContext): Promise<DepartmentView> {
    return putDepartment(this.st, input, power, ctx);
  }

  deleteDepartment(name: string, power: Power, ctx: EventContext): Promise<void> {
    return deleteDepartment(this.st, name, power, ctx);
  }

  departmentsOf(userId: string): Promise<string[]> {
    return departmentsOf(this.st, userId);
  }

  /** Replaces a user's departments; like roles, since departments carry roles. */
  setUserDepartments(userId: string, departments: string[], power: Power, ctx: EventContext): Promise<void> {
    return setUserDepartments(this.st, userId, departments, power, ctx);
  }

  /** Every problem with a grant, or none (`checkGrantInput`); the role is looked up unless `knownRoles` are given. */
  async checkGrant(g: GrantInput, def: CollectionDef | null, knownRoles?: ReadonlySet<string>): Promise<string[]> {
    if (!def) return [`unknown collection ${g.collection}`];
    const roleKnown = knownRoles ? knownRoles.has(g.role) : !!(await this.db.selectFrom('roles').select('name').where('name', '=', g.role).executeTakeFirst());
    return checkGrantInput(g, def, roleKnown);
  }

  /** Stores a checked grant inside `trx`. */
  async insertGrant(trx: Db, g: GrantInput, ctx: EventContext): Promise<Grant> {
    const grant: Grant = {
      id: randomUUID(),
      role: g.role,
      collection: g.collection,
      actions: [...new Set(g.actions)],
      fields: [...new Set(g.fields)],
      statuses: g.statuses ?? null,
      scope: g.scope ?? null,
    };
    await trx
      .insertInto('grants')
      .values({
        id: grant.id,
        role: grant.role,
        collection: grant.collection,
        actions: JSON.stringify(grant.actions),
        fields: JSON.stringify(grant.fields),
        statuses: grant.statuses ? JSON.stringify(grant.statuses) : null,
        scope: grant.scope ? JSON.stringify(grant.scope) : null,
        created_at: this.now(),
      })
      .execute();
    await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'grant.created', grant } }, trx);
    return grant;
  }

  async addGrant(g: GrantInput, power: Power, ctx: EventContext): Promise<Grant> {
    const def = await this.registry.get(g.collection);
    if (!def) throw new AppError('NOT_FOUND');
    const problems = await this.checkGrant(g, def);
    if (problems.length > 0)
      throw new AppError(
        'VALIDATION_FAILED',
        problems.map((message) => ({ path: '/', message })),
      );
    // Nobody extends a role that already gives more than they hold, nor adds a grant wider than their own.
    power.check(await this.powerOfRoles([g.role]), `role ${g.role}`);
    power.check(
      {
        roles: [g.role],
        permissions: [],
        menus: [],
        grants: [
          { id: '', role: g.role, collection: g.collection, actions: g.actions, fields: g.fields, statuses: g.statuses ?? null, scope: g.scope ?? null },
        ],
      },
      'grant',
    );
    // The grant is given to every holder of the role: each must be the actor's to manage.
    await roleHoldersManageable(this.st, power, g.role, ctx);
    return this.db.transaction().execute((trx) => this.insertGrant(trx, g, ctx));
  }

  /** Every problem with an access model from a schema file (roles, departments, grants), or none. */
  checkModel(model: AccessModel, defs: ReadonlyMap<string, CollectionDef>, prune: boolean): Promise<string[]> {
    return checkModel(this, model, defs, prune);
  }

  /** Applies a checked access model in one transaction (see `model.ts`). */
  applyModel(model: AccessModel, prune: boolean, ctx: EventContext): Promise<{ roles: string[]; departments: string[]; grants: number; removed: string[] }> {
    return applyModel(this.db, this.log, this.now, model, prune, ctx);
  }

  /** The whole access model, for `palisade schema export`. */
  exportModel(): Promise<AccessModel> {
    return exportModel(this);
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
    // The grant is taken from every holder of the role: each must be the actor's to manage.
    await roleHoldersManageable(this.st, power, row.role, ctx);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('grants').where('id', '=', id).execute();
      await this.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'grant.deleted', id } }, trx);
    });
  }
}
