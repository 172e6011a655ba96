import type { Db } from '../db/index.js';
import type { UsersTable } from '../db/types.js';
import { AppError } from '../errors.js';
import { grantedFields, type CollectionDef } from '../collections/schema.js';
import { filterableOf, isSystemField, readableUnder, rowsCover, scopeFields } from './rules.js';
import { SYSTEM_PERMISSIONS, type Grant } from './types.js';

export { MENU_KEY, SYSTEM_PERMISSIONS, type SystemPermission } from './types.js';

/**
 * Who a signed-in user is for access decisions, read afresh (or from the cache of the request's own stamp, D360)
 * on every request so that role,
 * department and grant changes apply at the next request on the instance that made them, and on the others within the
 * bound of the credential's change mark (D454 on SQLite, D453 on PostgreSQL).
 */
export interface Principal {
  userId: string;
  admin: boolean;
  /** Every role the user holds: their own and their departments'. */
  held: string[];
  /** The session's active role (acting with no role if it is no longer held); null: acting with the union. */
  active: string | null;
  /** The roles this request acts with: the active one, or all held. */
  roles: string[];
  departments: string[];
  permissions: string[];
  menus: string[];
  /** The `access` stamp this principal was read under, when it came from the cache (D360); its caches use it too. */
  stamp?: number;
}

const parseList = (s: string): string[] => {
  const v = JSON.parse(s) as unknown;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
};

/** The roles a user holds (directly or through a department), with their permissions and menus. */
async function heldRoles(db: Db, userId: string): Promise<Array<{ name: string; permissions: string; menus: string }>> {
  return db
    .selectFrom('roles')
    .select(['name', 'permissions', 'menus'])
    .where((eb) =>
      eb.or([
        eb('name', 'in', eb.selectFrom('user_roles').select('role').where('user_id', '=', userId)),
        eb(
          'name',
          'in',
          eb
            .selectFrom('department_roles')
            .innerJoin('user_departments', 'user_departments.department', 'department_roles.department')
            .select('department_roles.role')
            .where('user_departments.user_id', '=', userId),
        ),
      ]),
    )
    .orderBy('name')
    .execute();
}

export async function loadPrincipal(db: Db, user: UsersTable, activeRole: string | null, asKey = false): Promise<Principal> {
  const [rows, depts] = await Promise.all([
    heldRoles(db, user.id),
    db.selectFrom('user_departments').select('department').where('user_id', '=', user.id).orderBy('department').execute(),
  ]);
  const held = rows.map((r) => r.name);
  // An active role taken away fails closed: the session acts with no role until the user picks again.
  const active = activeRole;
  const acting = active === null ? rows : rows.filter((r) => r.name === active);
  const admin = user.is_admin === 1 && !asKey;
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

/** Role names that carry power by name: ownership bypass lists, hidden-field exceptions, and every role once a scope reads `$user.roles`. */
export function namedRoles(defs: Iterable<CollectionDef>, grants: readonly Grant[]): { names: Set<string>; all: boolean } {
  const names = new Set<string>();
  for (const d of defs) {
    for (const r of d.ownershipBypass ?? []) names.add(r);
    for (const f of d.fields) if (f.hidden && typeof f.hidden === 'object') for (const r of f.hidden.exceptRoles) names.add(r);
  }
  return { names, all: grants.some((g) => JSON.stringify(g.scope ?? null).includes('"$user.roles"')) };
}

/** What a role (or a set of roles) would give, for the "no one grants more power than they hold" rule. */
export interface RolePower {
  /** The role names themselves: a name can give power (bypass lists, hidden-field exceptions). */
  roles: string[];
  permissions: string[];
  menus: string[];
  grants: Grant[];
}

/**
 * The power an actor holds: their acting roles (names, permissions, menus, grants) and departments.
 * An administrator holds everything. `check` throws PRIVILEGE_ESCALATION when a role, a grant, a
 * department or a user would give more than the actor holds.
 */
export class Power {
  constructor(
    readonly admin: boolean,
    private readonly roles: ReadonlySet<string>,
    readonly departments: ReadonlySet<string>,
    private readonly permissions: ReadonlySet<string>,
    private readonly menus: ReadonlySet<string>,
    private readonly grants: readonly Grant[],
    private readonly defs: ReadonlyMap<string, CollectionDef>,
    private readonly named: { names: ReadonlySet<string>; all: boolean },
  ) {}

  /**
   * Whether one of the actor's grants gives at least what `theirs` gives: same collection; actions,
   * fields and statuses a subset; the same scope, or none. A narrower scope or status list is itself
   * a filter, so every field it names must be one the actor may filter on (readable under all their
   * view grants there), or the new grant would be a filter oracle.
   */
  private covered(theirs: Grant): boolean {
    const def = this.defs.get(theirs.collection);
    if (!def) return false;
    const mine = this.grants.filter((g) => g.collection === theirs.collection);
    const roles = [...this.roles];
    const readable = filterableOf(mine.filter((g) => g.actions.includes('view')).map((g) => readableUnder(def, g, roles)));
    const filterable = (name: string): boolean => isSystemField(name) || readable.has(name);
    const status = def.fields.find((f) => f.type === 'status');
    return mine.some((g) => {
      if (!theirs.actions.every((a) => g.actions.includes(a))) return false;
      const myFields = grantedFields(def, g.fields);
      if (![...grantedFields(def, theirs.fields)].every((f) => myFields.has(f))) return false;
      if (!rowsCover(g, theirs)) return false;
      // A narrower status list or scope is itself a filter: only on fields the actor may filter on.
      if (g.statuses === null && theirs.statuses !== null && !(status && filterable(status.name))) return false;
      return g.scope !== null || theirs.scope === null || [...scopeFields(theirs.scope)].every(filterable);
    });
  }

  /** The first thing `power` gives that this actor does not hold, or null. */
  excess(power: RolePower): string | null {
    if (this.admin) return null;
    const r = power.roles.find((x) => (this.named.all || this.named.names.has(x)) && !this.roles.has(x));
    if (r) return `role ${r}, which bypass lists, hidden fields or $user.roles scopes name`;
    const p = power.permissions.find((x) => !this.permissions.has(x));
    if (p) return `permission ${p}`;
    const m = power.menus.find((x) => !this.menus.has(x));
    if (m) return `menu ${m}`;
    const g = power.grants.find((x) => !this.covered(x));
    return g ? `a grant on ${g.collection}` : null;
  }

  check(power: RolePower, what: string): void {
    const extra = this.excess(power);
    if (extra !== null) throw new AppError('PRIVILEGE_ESCALATION', { subject: what, exceeds: extra });
  }

  /** Refuses departments the actor is not in: membership decides group ownership and `$user.department` scopes. */
  checkDepartments(departments: readonly string[], what: string): void {
    if (this.admin) return;
    const d = departments.find((x) => !this.departments.has(x));
    if (d) throw new AppError('PRIVILEGE_ESCALATION', { subject: what, exceeds: `department ${d}` });
  }
}

/** The power of the CLI and of administrators: everything. */
export const FULL_POWER = new Power(true, new Set(), new Set(), new Set(), new Set(), [], new Map(), { names: new Set(), all: false });

export { parseList };
