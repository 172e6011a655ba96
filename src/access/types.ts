/** The access vocabulary: actions, grants, and roles, departments and the access model as stored and shown. */
import { AppError } from '../errors.js';
import type { FilterNode } from '../collections/filter.js';

/** System permissions a role may carry (ACCESS-2). Administrators hold them all. */
export const SYSTEM_PERMISSIONS = [
  'users.manage',
  'roles.manage',
  'schema.manage',
  'security.manage',
  'audit.read',
  'accounts.unlock',
  'apikeys.manage',
] as const;
export type SystemPermission = (typeof SYSTEM_PERMISSIONS)[number];

/** A UI page key: dotted lower-case words. */
export const MENU_KEY = /^[a-z][a-z0-9_-]{0,40}(\.[a-z0-9_-]{1,40}){0,4}$/;

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

export const ROLE = /^[a-z][a-z0-9_-]{0,40}$/;

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

export const DEPARTMENT = /^[a-z][a-z0-9_-]{0,40}$/;

/** Roles, departments and grants as a schema file holds them. */
export interface AccessModel {
  roles: Array<{ name: string; description?: string | null; permissions?: string[]; menus?: string[] }>;
  departments: Array<{ name: string; description?: string | null; roles: string[] }>;
  grants: GrantInput[];
}

export function checkRoleLists(permissions: readonly string[], menus: readonly string[]): void {
  const problems: Array<{ path: string; message: string }> = [];
  for (const p of permissions)
    if (!(SYSTEM_PERMISSIONS as readonly string[]).includes(p)) problems.push({ path: '/permissions', message: `unknown permission ${p.slice(0, 40)}` });
  for (const m of menus) if (!MENU_KEY.test(m)) problems.push({ path: '/menus', message: `a menu key is dotted lower-case words: ${m.slice(0, 40)}` });
  if (problems.length > 0) throw new AppError('VALIDATION_FAILED', problems);
}

export const toGrant = (r: {
  id: string;
  role: string;
  collection: string;
  actions: string;
  fields: string;
  statuses: string | null;
  scope: string | null;
}): Grant => ({
  id: r.id,
  role: r.role,
  collection: r.collection,
  actions: JSON.parse(r.actions),
  fields: JSON.parse(r.fields),
  statuses: r.statuses ? JSON.parse(r.statuses) : null,
  scope: r.scope ? JSON.parse(r.scope) : null,
});
