/**
 * Departments: the roles they carry and who is in them. Every change passes the `Power` check, and a change to what
 * the members hold (their roles, their membership) passes, for each member, the check a direct change passes.
 */
import type { EventContext } from '../audit/events.js';
import { AppError } from '../errors.js';
import type { Power } from './principal.js';
import { holdersManageable, knownRoles, sameSet, type StoreContext } from './roles.js';
import { DEPARTMENT, type DepartmentView } from './types.js';

export async function listDepartments(st: StoreContext): Promise<DepartmentView[]> {
  const [depts, links] = await Promise.all([
    st.db.selectFrom('departments').select(['name', 'description']).orderBy('name').execute(),
    st.db.selectFrom('department_roles').select(['department', 'role']).orderBy('role').execute(),
  ]);
  return depts.map((d) => ({ ...d, roles: links.filter((l) => l.department === d.name).map((l) => l.role) }));
}

/**
 * Creates or replaces a department and the roles it carries (its members hold them). Changing the roles of a
 * department with members gives or takes those roles from each of them: each must be the actor's to manage.
 */
export async function putDepartment(
  st: StoreContext,
  input: { name: string; description?: string | null; roles: string[] },
  power: Power,
  ctx: EventContext,
): Promise<DepartmentView> {
  if (!DEPARTMENT.test(input.name)) throw new AppError('VALIDATION_FAILED', [{ path: '/name', message: 'lower-case letters, digits, _ and -' }]);
  const roles = [...new Set(input.roles)].sort();
  await knownRoles(st, st.db, roles);
  await notOwnDepartment(st, power, input.name, ctx);
  const before = (await listDepartments(st)).find((d) => d.name === input.name) ?? null;
  if (before) power.check(await st.powerOfRoles(before.roles), `department ${input.name}`);
  power.check(await st.powerOfRoles(roles), `department ${input.name}`);
  if (before && !sameSet(before.roles, roles)) await membersManageable(st, power, input.name);
  const after: DepartmentView = { name: input.name, description: input.description ?? null, roles };
  await st.db.transaction().execute(async (trx) => {
    if (before) await trx.updateTable('departments').set({ description: after.description }).where('name', '=', after.name).execute();
    else await trx.insertInto('departments').values({ name: after.name, description: after.description, created_at: st.now() }).execute();
    await trx.deleteFrom('department_roles').where('department', '=', after.name).execute();
    for (const role of roles) await trx.insertInto('department_roles').values({ department: after.name, role }).execute();
    await st.log.record(
      ctx,
      { type: 'access.changed', outcome: 'success', details: { change: before ? 'department.updated' : 'department.created', before, after } },
      trx,
    );
  });
  return after;
}

export async function deleteDepartment(st: StoreContext, name: string, power: Power, ctx: EventContext): Promise<void> {
  const before = (await listDepartments(st)).find((d) => d.name === name);
  if (!before) throw new AppError('NOT_FOUND');
  await notOwnDepartment(st, power, name, ctx);
  power.check(await st.powerOfRoles(before.roles), `department ${name}`);
  // Deleting ends every membership: the roles it gave, and the group rows and `$user.department` scopes it opened.
  await membersManageable(st, power, name);
  await st.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('department_roles').where('department', '=', name).execute();
    await trx.deleteFrom('user_departments').where('department', '=', name).execute();
    await trx.deleteFrom('departments').where('name', '=', name).execute();
    await st.log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'department.deleted', department: name } }, trx);
  });
}

/** Every member of the department must be the actor's to manage (`holdersManageable`). */
async function membersManageable(st: StoreContext, power: Power, department: string): Promise<void> {
  if (power.admin) return;
  const members = await st.db.selectFrom('user_departments').select('user_id').where('department', '=', department).orderBy('user_id').execute();
  await holdersManageable(
    st,
    power,
    members.map((m) => m.user_id),
    `department ${department}`,
    'member',
  );
}

/** A non-administrator does not change a department they are in: it would change their own roles. */
export async function notOwnDepartment(st: StoreContext, power: Power, department: string, ctx: EventContext): Promise<void> {
  if (power.admin || ctx.actor.id === null) return;
  if ((await departmentsOf(st, ctx.actor.id)).includes(department)) throw new AppError('CANNOT_MODIFY_SELF');
}

export async function departmentsOf(st: StoreContext, userId: string): Promise<string[]> {
  return (await st.db.selectFrom('user_departments').select('department').where('user_id', '=', userId).orderBy('department').execute()).map(
    (r) => r.department,
  );
}

/** Replaces a user's departments; like roles, since departments carry roles. */
export async function setUserDepartments(st: StoreContext, userId: string, departments: string[], power: Power, ctx: EventContext): Promise<void> {
  if (ctx.actor.id === userId) throw new AppError('CANNOT_MODIFY_SELF');
  const wanted = [...new Set(departments)].sort();
  const all = await listDepartments(st);
  // The power check comes first: a department the caller may not assign answers the same whether it
  // exists or not (only administrators and the department's members, who know it, get further).
  power.checkDepartments(wanted, 'departments');
  const unknown = wanted.filter((d) => !all.some((x) => x.name === d));
  if (unknown.length > 0) throw new AppError('VALIDATION_FAILED', [{ path: '/departments', message: `unknown departments: ${unknown.join(', ')}` }]);
  power.check(await st.powerOfRoles(all.filter((d) => wanted.includes(d.name)).flatMap((d) => d.roles)), 'departments');
  await st.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('user_departments').where('user_id', '=', userId).execute();
    for (const department of wanted) await trx.insertInto('user_departments').values({ user_id: userId, department }).execute();
    await st.log.record(
      ctx,
      { type: 'access.changed', outcome: 'success', subjectId: userId, details: { change: 'user.departments', departments: wanted } },
      trx,
    );
  });
}
