/**
 * Roles: their system permissions and menus, and who holds them directly. Every change passes the `Power` check, and
 * a change to what the holders hold passes, for each holder, the check a direct change to that holder passes.
 */
import type { Db } from '../db/index.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../errors.js';
import { parseList, type Power, type RolePower } from './principal.js';
import { ROLE, checkRoleLists, type RoleView } from './types.js';

/** What the role and department functions need from the store. */
export interface StoreContext {
  db: Db;
  log: SecurityLog;
  now: () => number;
  powerOfRoles(roles: readonly string[]): Promise<RolePower>;
  /** The check every /api/admin/users/:id… route passes (`AccessStore.checkManageable`): the user holds no more than the actor. */
  checkManageable(power: Power, userId: string): Promise<void>;
}

export async function listRoles(st: StoreContext): Promise<RoleView[]> {
  const rows = await st.db.selectFrom('roles').select(['name', 'description', 'permissions', 'menus']).orderBy('name').execute();
  return rows.map((r) => ({ name: r.name, description: r.description, permissions: parseList(r.permissions), menus: parseList(r.menus) }));
}

export async function createRole(
  st: StoreContext,
  input: { name: string; description?: string | null; permissions?: string[]; menus?: string[] },
  power: Power,
  ctx: EventContext,
): Promise<RoleView> {
  const role: RoleView = {
    name: input.name,
    description: input.description ?? null,
    permissions: [...new Set(input.permissions ?? [])].sort(),
    menus: [...new Set(input.menus ?? [])].sort(),
  };
  if (!ROLE.test(role.name)) throw new AppError('VALIDATION_FAILED', [{ path: '/name', message: 'lower-case letters, digits, _ and -' }]);
  checkRoleLists(role.permissions, role.menus);
  power.check({ roles: [role.name], permissions: role.permissions, menus: role.menus, grants: [] }, `role ${role.name}`);
  if (await st.db.selectFrom('roles').select('name').where('name', '=', role.name).executeTakeFirst()) throw new AppError('CONFLICT', { field: 'name' });
  await st.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('roles')
      .values({
        name: role.name,
        description: role.description,
        permissions: JSON.stringify(role.permissions),
        menus: JSON.stringify(role.menus),
        created_at: st.now(),
      })
      .execute();
    await st.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'role.created', role } }, trx);
  });
  return role;
}

export async function updateRole(
  st: StoreContext,
  name: string,
  patch: { description?: string | null; permissions?: string[]; menus?: string[] },
  power: Power,
  ctx: EventContext,
): Promise<RoleView> {
  const before = (await listRoles(st)).find((r) => r.name === name);
  if (!before) throw new AppError('NOT_FOUND');
  const after: RoleView = {
    name,
    description: patch.description !== undefined ? patch.description : before.description,
    permissions: patch.permissions ? [...new Set(patch.permissions)].sort() : before.permissions,
    menus: patch.menus ? [...new Set(patch.menus)].sort() : before.menus,
  };
  checkRoleLists(after.permissions, after.menus);
  power.check(await st.powerOfRoles([name]), `role ${name}`);
  power.check({ roles: [name], permissions: after.permissions, menus: after.menus, grants: [] }, `role ${name}`);
  // New or fewer permissions or menus are given to, or taken from, every holder; a description is not.
  if (!sameSet(before.permissions, after.permissions) || !sameSet(before.menus, after.menus)) await roleHoldersManageable(st, power, name, ctx);
  await st.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('roles')
      .set({ description: after.description, permissions: JSON.stringify(after.permissions), menus: JSON.stringify(after.menus) })
      .where('name', '=', name)
      .execute();
    await st.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'role.updated', before, after } }, trx);
  });
  return after;
}

export async function deleteRole(st: StoreContext, name: string, power: Power, ctx: EventContext): Promise<void> {
  if (!(await st.db.selectFrom('roles').select('name').where('name', '=', name).executeTakeFirst())) throw new AppError('NOT_FOUND');
  power.check(await st.powerOfRoles([name]), `role ${name}`);
  // Deleting takes the role, and its grants, from every holder.
  await roleHoldersManageable(st, power, name, ctx);
  await st.db.transaction().execute(async (trx) => {
    // Foreign keys cascade on PostgreSQL; SQLite enforces them too, but the explicit deletes keep both honest.
    await trx.deleteFrom('grants').where('role', '=', name).execute();
    await trx.deleteFrom('user_roles').where('role', '=', name).execute();
    await trx.deleteFrom('department_roles').where('role', '=', name).execute();
    await trx.deleteFrom('roles').where('name', '=', name).execute();
    await st.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'role.deleted', role: name } }, trx);
  });
}

export const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));

/** The users who hold `role`, directly or through a department, in id order. */
export async function holdersOf(st: StoreContext, role: string): Promise<string[]> {
  const [direct, throughDepartments] = await Promise.all([
    st.db.selectFrom('user_roles').select('user_id').where('role', '=', role).execute(),
    st.db
      .selectFrom('user_departments')
      .innerJoin('department_roles', 'department_roles.department', 'user_departments.department')
      .select('user_departments.user_id')
      .where('department_roles.role', '=', role)
      .execute(),
  ]);
  return [...new Set([...direct, ...throughDepartments].map((r) => r.user_id))].sort();
}

/**
 * Refuses (PRIVILEGE_ESCALATION) unless the actor may manage every one of `userIds`: the check of the
 * /api/admin/users/:id… routes (`checkManageable`), run for each user a change to a department or a role gives or
 * takes power from, so that neither can do what a direct change to the user could not. The answer names `subject`
 * only (`department green`, `role tag`), not which user or why (the actor may hold roles.manage without
 * users.manage); the internal reason, which is logged, names the user as the `who` (member, holder).
 */
export async function holdersManageable(st: StoreContext, power: Power, userIds: readonly string[], subject: string, who: 'member' | 'holder'): Promise<void> {
  if (power.admin) return;
  for (const userId of userIds) {
    try {
      await st.checkManageable(power, userId);
    } catch (e) {
      if (!(e instanceof AppError && e.code === 'PRIVILEGE_ESCALATION')) throw e;
      const why = (e.details as { exceeds?: string } | undefined)?.exceeds ?? 'more';
      throw new AppError('PRIVILEGE_ESCALATION', { subject, exceeds: `a ${who} you may not manage` }, `${who} ${userId}: ${why}`);
    }
  }
}

/**
 * A change to what `role` gives (permissions, menus, grants, its deletion) changes what each holder holds: a
 * non-administrator who holds it is refused (CANNOT_MODIFY_SELF, as for a department they are in), and every other
 * holder must be theirs to manage (`holdersManageable`). A role nobody holds passes.
 */
export async function roleHoldersManageable(st: StoreContext, power: Power, role: string, ctx: EventContext): Promise<void> {
  if (power.admin) return;
  const holders = await holdersOf(st, role);
  if (ctx.actor.id !== null && holders.includes(ctx.actor.id)) throw new AppError('CANNOT_MODIFY_SELF');
  await holdersManageable(st, power, holders, `role ${role}`, 'holder');
}

export async function knownRoles(_st: StoreContext, trx: Db, roles: readonly string[]): Promise<void> {
  if (roles.length === 0) return;
  const known = new Set(
    (
      await trx
        .selectFrom('roles')
        .select('name')
        .where('name', 'in', [...roles])
        .execute()
    ).map((r) => r.name),
  );
  const unknown = roles.filter((r) => !known.has(r));
  if (unknown.length > 0) throw new AppError('VALIDATION_FAILED', [{ path: '/roles', message: `unknown roles: ${unknown.join(', ')}` }]);
}

/** Replaces a user's own roles. Nobody changes their own; nobody hands out more than they hold. The caller checks that the user is theirs to manage. */
export async function setUserRoles(st: StoreContext, userId: string, roles: string[], power: Power, ctx: EventContext): Promise<void> {
  if (ctx.actor.id === userId) throw new AppError('CANNOT_MODIFY_SELF');
  const wanted = [...new Set(roles)];
  await knownRoles(st, st.db, wanted);
  power.check(await st.powerOfRoles(wanted), 'roles');
  await st.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('user_roles').where('user_id', '=', userId).execute();
    for (const role of wanted) await trx.insertInto('user_roles').values({ user_id: userId, role }).execute();
    await st.log.record(ctx, { type: 'access.changed', outcome: 'success', subjectId: userId, details: { change: 'user.roles', roles: wanted } }, trx);
  });
}
