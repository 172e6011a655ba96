/** The access model of schema files: roles, departments and grants checked, applied in one transaction, exported. */
import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../errors.js';
import type { CollectionDef } from '../collections/schema.js';
import { DEPARTMENT, ROLE, checkRoleLists, type AccessModel, type DepartmentView, type Grant, type GrantInput, type RoleView } from './types.js';
import type { CollectionDef as Def } from '../collections/schema.js';

/** What the model functions need of the access store (grants.ts), named here so that model.ts does not import it. */
interface ModelStore {
  listRoles(): Promise<RoleView[]>;
  listDepartments(): Promise<DepartmentView[]>;
  listGrants(): Promise<Grant[]>;
  checkGrant(g: GrantInput, def: Def | null, knownRoles?: ReadonlySet<string>): Promise<string[]>;
}

/** Every problem with an access model from a schema file (roles, departments, grants), or none. */
export async function checkModel(
  store: Pick<ModelStore, 'listRoles' | 'checkGrant'>,
  model: AccessModel,
  defs: ReadonlyMap<string, CollectionDef>,
  prune: boolean,
): Promise<string[]> {
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
  const existing = prune ? new Set<string>() : new Set((await store.listRoles()).map((r) => r.name));
  const depts = new Set<string>();
  for (const d of model.departments) {
    if (!DEPARTMENT.test(d.name)) problems.push(`department ${d.name}: lower-case letters, digits, _ and -`);
    if (depts.has(d.name)) problems.push(`department ${d.name}: defined twice`);
    depts.add(d.name);
    for (const r of d.roles) if (!fileRoles.has(r) && !existing.has(r)) problems.push(`department ${d.name}: unknown role ${r}`);
  }
  for (const g of model.grants) {
    if (!fileRoles.has(g.role)) problems.push(`grant for ${g.role} on ${g.collection}: a grant's role must be in the file's roles`);
    else problems.push(...(await store.checkGrant(g, defs.get(g.collection) ?? null, fileRoles)).map((p) => `grant for ${g.role} on ${g.collection}: ${p}`));
  }
  return problems;
}

/**
 * Applies a checked access model in one transaction: roles and departments are created or updated,
 * each file role's grants become exactly the file's, and with `prune` roles and departments missing
 * from the file are deleted (with their grants and assignments). Audited as one access.changed event.
 */
export async function applyModel(
  db: Db,
  log: SecurityLog,
  now: () => number,
  model: AccessModel,
  prune: boolean,
  ctx: EventContext,
): Promise<{ roles: string[]; departments: string[]; grants: number; removed: string[] }> {
  return db.transaction().execute(async (trx) => {
    const removed: string[] = [];
    const known = new Set((await trx.selectFrom('roles').select('name').execute()).map((r) => r.name));
    for (const r of model.roles) {
      const row = {
        description: r.description ?? null,
        permissions: JSON.stringify([...new Set(r.permissions ?? [])].sort()),
        menus: JSON.stringify([...new Set(r.menus ?? [])].sort()),
      };
      if (known.has(r.name)) await trx.updateTable('roles').set(row).where('name', '=', r.name).execute();
      else
        await trx
          .insertInto('roles')
          .values({ name: r.name, ...row, created_at: now() })
          .execute();
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
      if (depts.has(d.name))
        await trx
          .updateTable('departments')
          .set({ description: d.description ?? null })
          .where('name', '=', d.name)
          .execute();
      else
        await trx
          .insertInto('departments')
          .values({ name: d.name, description: d.description ?? null, created_at: now() })
          .execute();
      await trx.deleteFrom('department_roles').where('department', '=', d.name).execute();
      for (const role of new Set(d.roles)) await trx.insertInto('department_roles').values({ department: d.name, role }).execute();
    }
    for (const g of model.grants) {
      await trx
        .insertInto('grants')
        .values({
          id: randomUUID(),
          role: g.role,
          collection: g.collection,
          actions: JSON.stringify([...new Set(g.actions)]),
          fields: JSON.stringify([...new Set(g.fields)]),
          statuses: g.statuses ? JSON.stringify(g.statuses) : null,
          scope: g.scope ? JSON.stringify(g.scope) : null,
          created_at: now(),
        })
        .execute();
    }
    const result = { roles: model.roles.map((r) => r.name), departments: model.departments.map((d) => d.name), grants: model.grants.length, removed };
    await log.record(ctx, { type: 'access.changed', outcome: 'success', details: { change: 'schema.applied', ...result } }, trx);
    return result;
  });
}

/** The whole access model, for `palisade schema export`. */
export async function exportModel(store: Pick<ModelStore, 'listRoles' | 'listDepartments' | 'listGrants'>): Promise<AccessModel> {
  const roles = (await store.listRoles()).map((r) => ({
    name: r.name,
    ...(r.description ? { description: r.description } : {}),
    permissions: r.permissions,
    menus: r.menus,
  }));
  const departments = (await store.listDepartments()).map((d) => ({ name: d.name, ...(d.description ? { description: d.description } : {}), roles: d.roles }));
  const grants = (await store.listGrants())
    .sort((a, b) => a.role.localeCompare(b.role) || a.collection.localeCompare(b.collection))
    .map(({ id: _id, ...g }) => ({ ...g, ...(g.statuses === null ? { statuses: undefined } : {}), ...(g.scope === null ? { scope: undefined } : {}) }))
    .map((g) => JSON.parse(JSON.stringify(g)) as GrantInput);
  return { roles, departments, grants };
}
