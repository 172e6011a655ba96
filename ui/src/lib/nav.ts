/**
 * Every page of the app, in one list: its address, its menu key, the system permission the server asks
 * for it, and where the navigation shows it. Menus follow the user's permissions and menu keys
 * (session.menu); the server still decides every request. A new feature adds its page here.
 */
export interface NavItem {
  key: string;
  label: string;
  href: string;
  group: 'data' | 'people' | 'security' | 'account';
  /** A system permission the user needs (administrators hold all). */
  permission?: string;
  /** Only administrators (the endpoint answers them alone, whatever the permissions). */
  adminOnly?: boolean;
}

export const NAV: readonly NavItem[] = [
  { key: 'data', label: 'Data', href: '/data', group: 'data' },
  { key: 'admin.collections', label: 'Collections', href: '/admin/collections', group: 'data', permission: 'schema.manage' },
  { key: 'admin.privacy', label: 'Privacy policies', href: '/admin/privacy', group: 'data', permission: 'schema.manage' },
  { key: 'admin.privacy.erasure', label: 'Erasure requests', href: '/admin/erasure', group: 'data', permission: 'security.manage' },
  { key: 'admin.users', label: 'Users', href: '/admin/users', group: 'people', permission: 'users.manage' },
  { key: 'admin.roles', label: 'Roles', href: '/admin/roles', group: 'people', permission: 'roles.manage' },
  { key: 'admin.departments', label: 'Departments', href: '/admin/departments', group: 'people', permission: 'roles.manage' },
  { key: 'admin.explain', label: 'Explain access', href: '/admin/explain', group: 'people', permission: 'roles.manage', adminOnly: true },
  { key: 'admin.locks', label: 'Locked accounts', href: '/admin/locks', group: 'security', permission: 'accounts.unlock' },
  { key: 'admin.events', label: 'Security events', href: '/admin/events', group: 'security', permission: 'audit.read' },
  { key: 'admin.audit', label: 'Audit log', href: '/admin/audit', group: 'security', permission: 'audit.read' },
  { key: 'admin.audit.chain', label: 'Audit chain', href: '/admin/audit-chain', group: 'security', permission: 'audit.read' },
  { key: 'admin.settings', label: 'Security settings', href: '/admin/settings', group: 'security', permission: 'security.manage' },
  { key: 'admin.ip-rules', label: 'IP rules', href: '/admin/ip-rules', group: 'security', permission: 'security.manage' },
  { key: 'admin.api-keys', label: 'API keys', href: '/admin/api-keys', group: 'security', permission: 'apikeys.manage' },
  { key: 'admin.sso', label: 'Identity providers', href: '/admin/sso', group: 'security', adminOnly: true },
  { key: 'admin.oidc-clients', label: 'OIDC clients', href: '/admin/oidc-clients', group: 'security', adminOnly: true },
  { key: 'admin.secrets', label: 'Secrets', href: '/admin/secrets', group: 'security', adminOnly: true },
  { key: 'admin.backups', label: 'Backups', href: '/admin/backups', group: 'security', adminOnly: true },
  { key: 'admin.doctor', label: 'Deployment checks', href: '/admin/doctor', group: 'security', adminOnly: true },
  { key: 'admin.config', label: 'Configuration', href: '/admin/config', group: 'security', adminOnly: true },
  { key: 'account', label: 'My account', href: '/account', group: 'account' },
  { key: 'account.security', label: 'Sign-in & security', href: '/account/security', group: 'account' },
  { key: 'account.sessions', label: 'My sessions', href: '/account/sessions', group: 'account' },
  { key: 'account.api-keys', label: 'My API keys', href: '/account/api-keys', group: 'account' },
  { key: 'account.applications', label: 'Connected applications', href: '/account/applications', group: 'account' },
];

export const GROUPS: Record<NavItem['group'], string> = {
  data: 'Data',
  people: 'People & access',
  security: 'Security',
  account: 'Account',
};

/** What a user needs to see a page in the menus: its permission, administrators only where it says so, its menu key. */
export function shown(item: NavItem, who: { isAdmin: boolean; can(permission: string): boolean; menu(key: string): boolean }): boolean {
  return (!item.permission || who.can(item.permission)) && (!item.adminOnly || who.isAdmin) && who.menu(item.key);
}
