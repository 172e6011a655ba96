import type { Db } from '../db/index.js';
import type { UsersTable } from '../db/types.js';
import { AppError } from '../http/errors.js';
import type { CollectionDef } from '../records/schema.js';
import { grantedFields, type Grant } from './grants.js';

/** System permissions a role may carry (ACCESS-2). Administrators hold them all. */
export const SYSTEM_PERMISSIONS = [
  'users.manage', 'roles.manage', 'schema.manage', 'security.manage', 'audit.read', 'accounts.unlock', 'apikeys.manage',
] as const;
export type SystemPermission = (typeof SYSTEM_PERMISSIONS)[number];

/** A UI page key: dotted lower-case words. */
export const MENU_KEY = /^[a-z][a-z0-9_-]{0,40}(\.[a-z0-9_-]{1,40}){0,4}$/;

/**
 * Who a signed-in user is for access decisions, read afresh on every request so that role,
 * department and grant changes apply at the next request on every instance.
 */
export interface Principal {
  userId: string;
  admin: boolean;
  /** Every role the user holds: their own and their departments'. */
  held: string[];
  /** The session's active role, when it is still held; null: acting with the union. */
  active: string | null;
  /** The roles this request acts with: the active one, or all held. */
  roles: string[];
  departments: string[];
  permissions: string[];
  menus: string[];
}

const parseList = (s: string): string[] => {
  const v = JSON.parse(s) as unknown;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
};

/** The roles a user holds (directly or through a department), with their permissions and menus. */
async function heldRoles(db: Db, userId: string): Promise<Array<{ name: string; permissions: string; menus: string }>> {
  return db.selectFrom('roles').select(['name', 'permissions', 'menus'])
    .where((eb) => eb.or([
      eb('name', 'in', eb.selectFrom('user_roles').select('role').where('user_id', '=', userId)),
      eb('name', 'in', eb.selectFrom('department_roles').innerJoin('user_departments', 'user_departments.department', 'department_roles.department')
        .select('department_roles.role').where('user_departments.user_id', '=', userId)),
    ]))
    .orderBy('name').execute();
}

export async function loadPrincipal(db: Db, user: UsersTable, activeRole: string | null): Promise<Principal> {
  const [rows, depts] = await Promise.all([
    heldRoles(db, user.id),
    db.selectFrom('user_departments').select('department').where('user_id', '=', user.id).orderBy('department').execute(),
  ]);
  const held = rows.map((r) => r.name);
  const active = activeRole !== null && held.includes(activeRole) ? activeRole : null;
  const acting = active === null ? rows : rows.filter((r) => r.name === active);
  const admin = user.is_admin === 1;
  return {
    userId: user.id,
    admin,
    held,
    active,
    roles: acting.map((r) => r.name),
    departments: depts.map((d) => d.department),
    permissions: admin ? [...SYSTEM_PERMISSIONS] : [...new Set(acting.flatMap((r) => parseList(r.permissions)))].sort(),
    menus: admin ? ['*'] : [...new Set(acting.flatMap((r) => parseList(r.menus)))].sort(),
  };
}

/** Whether one grant gives no more than another: same collection, fewer or equal actions, fields, statuses, an equal or wider scope. */
function covers(def: CollectionDef | null, mine: Grant, theirs: Grant): boolean {
  if (mine.collection !== theirs.collection || def === null) return false;
  if (!theirs.actions.every((a) => mine.actions.includes(a))) return false;
  const myFields = grantedFields(def, mine.fields);
  if (![...grantedFields(def, theirs.fields)].every((f) => myFields.has(f))) return false;
  if (mine.statuses !== null && (theirs.statuses === null || !theirs.statuses.every((s) => mine.statuses!.includes(s)))) return false;
  return mine.scope === null || JSON.stringify(mine.scope) === JSON.stringify(theirs.scope);
}

/** What a role would give, for the "no one grants more power than they hold" rule. */
export interface RolePower {
  permissions: string[];
  menus: string[];
  grants: Grant[];
}

/**
 * The power an actor holds: every role they hold (not only the active one), its permissions, menus
 * and grants. An administrator holds everything. `check` throws FORBIDDEN when a role, a grant or a
 * user's roles would give more than the actor holds.
 */
export class Power {
  constructor(
    readonly admin: boolean,
    private readonly permissions: ReadonlySet<string>,
    private readonly menus: ReadonlySet<string>,
    private readonly grants: readonly Grant[],
    private readonly defs: ReadonlyMap<string, CollectionDef>,
  ) {}

  /** The first thing `power` gives that this actor does not hold, or null. */
  excess(power: RolePower): string | null {
    if (this.admin) return null;
    const p = power.permissions.find((x) => !this.permissions.has(x));
    if (p) return `permission ${p}`;
    const m = power.menus.find((x) => !this.menus.has(x));
    if (m) return `menu ${m}`;
    const g = power.grants.find((x) => !this.grants.some((mine) => covers(this.defs.get(x.collection) ?? null, mine, x)));
    return g ? `a grant on ${g.collection}` : null;
  }

  check(power: RolePower, what: string): void {
    const extra = this.excess(power);
    if (extra !== null) throw new AppError('PRIVILEGE_ESCALATION', { subject: what, exceeds: extra });
  }
}

/** The power of the CLI and of administrators: everything. */
export const FULL_POWER = new Power(true, new Set(), new Set(), [], new Map());

export { parseList };
