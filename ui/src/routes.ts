import type { Component } from 'svelte';

/**
 * The address of every screen and the module that draws it (loaded on first visit). `open`: shown
 * without a session (sign-in and the pages mailed links lead to). `nav`: the menu key (lib/nav.ts)
 * whose permission the screen needs.
 */
export interface PageDef {
  pattern: string;
  title: string;
  open?: boolean;
  nav?: string;
  // biome-ignore lint/suspicious/noExplicitAny: each page declares its own props
  load: () => Promise<{ default: Component<any> }>;
}

export const PAGES: readonly PageDef[] = [
  { pattern: '/sign-in', title: 'Sign in', open: true, load: () => import('./pages/SignIn.svelte') },
  { pattern: '/forgot-password', title: 'Forgot password', open: true, load: () => import('./pages/ForgotPassword.svelte') },
  { pattern: '/reset-password', title: 'Choose a new password', open: true, load: () => import('./pages/ResetPassword.svelte') },
  { pattern: '/accept-invitation', title: 'Accept your invitation', open: true, load: () => import('./pages/ResetPassword.svelte') },
  { pattern: '/', title: 'Home', load: () => import('./pages/Home.svelte') },
  { pattern: '/account', title: 'My account', nav: 'account', load: () => import('./pages/account/Account.svelte') },
  { pattern: '/account/security', title: 'Sign-in & security', nav: 'account.security', load: () => import('./pages/account/Security.svelte') },
  { pattern: '/account/sessions', title: 'My sessions', nav: 'account.sessions', load: () => import('./pages/account/Sessions.svelte') },
  { pattern: '/account/api-keys', title: 'My API keys', nav: 'account.api-keys', load: () => import('./pages/account/ApiKeys.svelte') },
  {
    pattern: '/account/applications',
    title: 'Connected applications',
    nav: 'account.applications',
    load: () => import('./pages/account/Applications.svelte'),
  },
  { pattern: '/data', title: 'Data', nav: 'data', load: () => import('./pages/data/Collections.svelte') },
  { pattern: '/data/:collection', title: 'Records', nav: 'data', load: () => import('./pages/data/Records.svelte') },
  { pattern: '/data/:collection/:id', title: 'Record', nav: 'data', load: () => import('./pages/data/Record.svelte') },
  { pattern: '/admin/collections', title: 'Collections', nav: 'admin.collections', load: () => import('./pages/admin/Collections.svelte') },
  { pattern: '/admin/collections/:name', title: 'Collection', nav: 'admin.collections', load: () => import('./pages/admin/Collection.svelte') },
  { pattern: '/admin/privacy', title: 'Privacy policies', nav: 'admin.privacy', load: () => import('./pages/admin/Privacy.svelte') },
  { pattern: '/admin/erasure', title: 'Erasure requests', nav: 'admin.privacy.erasure', load: () => import('./pages/admin/Erasure.svelte') },
  { pattern: '/admin/users', title: 'Users', nav: 'admin.users', load: () => import('./pages/admin/Users.svelte') },
  { pattern: '/admin/users/:id', title: 'User', nav: 'admin.users', load: () => import('./pages/admin/User.svelte') },
  { pattern: '/admin/roles', title: 'Roles', nav: 'admin.roles', load: () => import('./pages/admin/Roles.svelte') },
  { pattern: '/admin/roles/:name', title: 'Role', nav: 'admin.roles', load: () => import('./pages/admin/Role.svelte') },
  { pattern: '/admin/departments', title: 'Departments', nav: 'admin.departments', load: () => import('./pages/admin/Departments.svelte') },
  { pattern: '/admin/explain', title: 'Explain access', nav: 'admin.explain', load: () => import('./pages/admin/Explain.svelte') },
  { pattern: '/admin/locks', title: 'Locked accounts', nav: 'admin.locks', load: () => import('./pages/admin/Locks.svelte') },
  { pattern: '/admin/events', title: 'Security events', nav: 'admin.events', load: () => import('./pages/admin/Events.svelte') },
  { pattern: '/admin/audit', title: 'Audit log', nav: 'admin.audit', load: () => import('./pages/admin/Audit.svelte') },
  { pattern: '/admin/audit-chain', title: 'Audit chain', nav: 'admin.audit.chain', load: () => import('./pages/admin/AuditChain.svelte') },
  { pattern: '/admin/settings', title: 'Security settings', nav: 'admin.settings', load: () => import('./pages/admin/Settings.svelte') },
  { pattern: '/admin/ip-rules', title: 'IP rules', nav: 'admin.ip-rules', load: () => import('./pages/admin/IpRules.svelte') },
  { pattern: '/admin/api-keys', title: 'API keys', nav: 'admin.api-keys', load: () => import('./pages/admin/ApiKeys.svelte') },
  { pattern: '/admin/doctor', title: 'Deployment checks', nav: 'admin.doctor', load: () => import('./pages/admin/Doctor.svelte') },
  { pattern: '/admin/sso', title: 'Identity providers', nav: 'admin.sso', load: () => import('./pages/admin/IdentityProviders.svelte') },
  { pattern: '/admin/oidc-clients', title: 'OIDC clients', nav: 'admin.oidc-clients', load: () => import('./pages/admin/OidcClients.svelte') },
  { pattern: '/admin/secrets', title: 'Secrets', nav: 'admin.secrets', load: () => import('./pages/admin/Secrets.svelte') },
  { pattern: '/admin/backups', title: 'Backups', nav: 'admin.backups', load: () => import('./pages/admin/Backups.svelte') },
  { pattern: '/admin/config', title: 'Configuration', nav: 'admin.config', load: () => import('./pages/admin/Config.svelte') },
];
