// The People & access screens' shared vocabulary: users, roles, departments and grants as the admin
// API answers them, the server's refusals in words, and the grant scope as the role page edits it.
// Pure (no DOM, no state); the server decides every permission.
import { ApiError, describeError } from './api';
import { ruleSentence, type RuleFailure } from './password-rules';

export interface AdminUser {
  id: string;
  username: string;
  email: string | null;
  status: 'active' | 'disabled';
  isAdmin: boolean;
  createdAt: string;
  updatedAt: string;
  hasPassword: boolean;
  passwordChangedAt: string | null;
  mustChangePassword: boolean;
  /** When a one-time password stops signing in; null: no such deadline. */
  mustChangeBy: string | null;
  ssoOnly: boolean;
}

export interface LockedAccount {
  userId: string;
  username: string;
  lockedAt: string;
  lockedUntil: string | null;
  reason: string;
  lockedBy: string | null;
}

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

export const ACTIONS = ['view', 'create', 'update', 'delete', 'export', 'import'] as const;
export type Action = (typeof ACTIONS)[number];

export interface Grant {
  id: string;
  role: string;
  collection: string;
  actions: string[];
  fields: string[];
  statuses: string[] | null;
  scope: Record<string, unknown> | null;
}

export interface AdminField {
  name: string;
  type: string;
  values?: string[];
  block?: string;
  hidden?: boolean | { exceptRoles: string[] };
}

export interface AdminCollection {
  name: string;
  fields: AdminField[];
  ownership?: 'creator' | 'members' | 'group' | null;
}

/** The system permissions a role may carry (the server's list, src/access/types.ts), with what each opens. */
export const PERMISSIONS: ReadonlyArray<{ key: string; text: string }> = [
  { key: 'users.manage', text: 'create, change and disable users; assign roles and departments' },
  { key: 'roles.manage', text: 'roles, departments and grants' },
  { key: 'schema.manage', text: 'collections and their fields' },
  { key: 'security.manage', text: 'security settings, IP rules, signing keys' },
  { key: 'audit.read', text: 'read the security events' },
  { key: 'accounts.unlock', text: 'lock and unlock accounts' },
  { key: 'apikeys.manage', text: "see and revoke every user's API keys" },
];

/** A role or department name as the server takes it. */
export const NAME = /^[a-z][a-z0-9_-]{0,40}$/;
export const NAME_HELP = 'Lower-case letters, digits, - and _, starting with a letter (at most 41).';

/** The server's refusals on the People & access screens, in words. */
export function peopleError(e: unknown): string {
  if (!(e instanceof ApiError)) return describeError(e);
  switch (e.code) {
    case 'FORBIDDEN':
      return 'Refused: you may not do this here (the server checks your permissions).';
    case 'PRIVILEGE_ESCALATION':
      return 'Refused: this user, role or grant holds more than you do, or the change would give more power than you hold. Ask an administrator.';
    case 'ROLE_NOT_HELD':
      return 'Refused: you may hand out only roles you hold yourself.';
    case 'CANNOT_MODIFY_SELF':
      return 'Refused: this change cannot be made to your own account. Ask another administrator.';
    case 'NOT_FOUND':
      return 'Not found: it no longer exists (someone removed it), or the name is wrong.';
    case 'CONFLICT':
      return 'This name is taken already.';
    case 'LINK_NOT_SENDABLE':
      return 'No link can be sent to this user: they need an email address (and, for an invitation, no password yet).';
    case 'SSO_ONLY_USER':
      return 'This user signs in only through single sign-on and has no password.';
    case 'PASSWORD_REJECTED': {
      const failed = (e.details as { failed?: RuleFailure[] } | undefined)?.failed ?? [];
      return `The password does not meet the password policy${failed.length ? `: ${failed.map(ruleSentence).join(' ')}` : '.'}`;
    }
    case 'FILTER_INVALID':
    case 'FIELD_UNKNOWN':
    case 'FIELD_NOT_FILTERABLE': {
      const d = e.details as { message?: string; field?: string } | undefined;
      return `The row scope is not valid: ${d?.message ?? d?.field ?? e.message}`;
    }
    case 'SESSION_REQUIRED':
      return 'This needs a signed-in session.';
    default:
      return describeError(e);
  }
}

/**
 * The scope of a grant as the role page edits it: everyone's rows, the rows whose owner field is the
 * signed-in user (`{ <field>: "$user.id" }`), or any filter typed as JSON.
 */
export type ScopeForm = { kind: 'all' } | { kind: 'owner'; field: string } | { kind: 'json'; text: string };

export function scopeForm(scope: Record<string, unknown> | null): ScopeForm {
  if (!scope) return { kind: 'all' };
  const keys = Object.keys(scope);
  if (keys.length === 1 && scope[keys[0]!] === '$user.id') return { kind: 'owner', field: keys[0]! };
  return { kind: 'json', text: JSON.stringify(scope, null, 2) };
}

/** The scope to send; throws a readable Error when the JSON text is no object. */
export function scopeOf(f: ScopeForm): Record<string, unknown> | null {
  if (f.kind === 'all') return null;
  if (f.kind === 'owner') {
    if (!f.field) throw new Error('Choose the field that holds the owner.');
    return { [f.field]: '$user.id' };
  }
  if (f.text.trim() === '') return null;
  let v: unknown;
  try {
    v = JSON.parse(f.text);
  } catch {
    throw new Error('The filter is not valid JSON, such as {"region": "north"}.');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('The filter is a JSON object, such as {"region": "north"}.');
  return v as Record<string, unknown>;
}

/** A scope in words, for lists and explanations. */
export function scopeText(scope: unknown): string {
  if (scope === null || scope === undefined) return 'every row';
  if (typeof scope === 'object' && !Array.isArray(scope)) {
    const keys = Object.keys(scope);
    const s = scope as Record<string, unknown>;
    if (keys.length === 1 && s[keys[0]!] === '$user.id') return `rows where ${keys[0]} is the user`;
  }
  return `rows matching ${JSON.stringify(scope)}`;
}

/** Fields that may hold a user (the owner in an "owner = current user" scope): user fields and createdBy. */
export function ownerFields(c: AdminCollection | undefined): string[] {
  const own = (c?.fields ?? []).filter((f) => f.type === 'user').map((f) => f.name);
  return ['createdBy', ...own];
}

/** The fields a grant may name: every field of the collection, its blocks (block:<name>), and the system fields. */
export function grantableFields(c: AdminCollection | undefined): string[] {
  if (!c) return [];
  const blocks = [...new Set(c.fields.map((f) => f.block).filter((b): b is string => !!b))].map((b) => `block:${b}`);
  return [...c.fields.map((f) => f.name), ...blocks];
}

/** The status values of a collection (its status field), or undefined when it has none. */
export function statusValues(c: AdminCollection | undefined): string[] | undefined {
  return c?.fields.find((f) => f.type === 'status')?.values;
}
