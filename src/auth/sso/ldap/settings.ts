import { isAbsolute } from 'node:path';
import { AppError } from '../../../errors.js';
import type { LdapSettings } from '../types.js';
import { urlProblem } from './connect.js';

/** The secret store's name of a provider's service-account password when given through the provider's API. */
export const bindPasswordNameOf = (slug: string) => `sso.${slug}.bindPassword`;

/** An LDAP provider's settings as the API and the CLI give them: each optional (a change names only what changes). */
export type LdapInput = Partial<LdapSettings> & {
  /** Write-only: stored in the secret store under `sso.<slug>.bindPassword`. */
  servicePassword?: string;
};

/** An attribute description (RFC 4512): a name or an OID, with options; or `dn` where the settings allow it. */
const ATTRIBUTE = /^([A-Za-z][A-Za-z0-9-]{0,63}|[0-9]+(\.[0-9]+){1,40})(;[A-Za-z0-9-]+){0,4}$/;

export const LDAP_DEFAULTS: Omit<LdapSettings, 'url' | 'baseDn'> = {
  startTls: false,
  tlsCaFile: null,
  bindMode: 'direct',
  bindDnTemplate: null,
  serviceDn: null,
  servicePasswordName: null,
  userObjectClass: 'person',
  userAttribute: 'uid',
  usernameAttribute: 'uid',
  emailAttribute: 'mail',
  displayNameAttribute: 'cn',
  emailVerified: false,
  subjectAttribute: 'entryUUID',
  groupMode: 'none',
  memberOfAttribute: 'memberOf',
  groupBaseDn: null,
  groupObjectClass: 'groupOfNames',
  groupMemberAttribute: 'member',
  groupMemberValue: 'dn',
  groupNameAttribute: 'cn',
  connectTimeoutMs: 5000,
  operationTimeoutMs: 5000,
};

const invalid = (field: string, message: string) => new AppError('VALIDATION_FAILED', [{ path: `/ldap/${field}`, message }]);

/** The settings after a change (or at creation, `old` null), checked as a whole: a bad combination is refused. */
export function ldapSettings(slug: string, old: LdapSettings | null, i: LdapInput): LdapSettings {
  const base = old ?? { ...LDAP_DEFAULTS, url: '', baseDn: '' };
  const pick = <K extends keyof LdapSettings>(k: K): LdapSettings[K] => (i[k] !== undefined ? (i[k] as LdapSettings[K]) : base[k]);
  const s: LdapSettings = {
    url: pick('url'),
    startTls: pick('startTls'),
    tlsCaFile: pick('tlsCaFile'),
    bindMode: pick('bindMode'),
    bindDnTemplate: pick('bindDnTemplate'),
    serviceDn: pick('serviceDn'),
    servicePasswordName: i.servicePassword !== undefined ? bindPasswordNameOf(slug) : pick('servicePasswordName'),
    baseDn: pick('baseDn'),
    userObjectClass: pick('userObjectClass'),
    userAttribute: pick('userAttribute'),
    usernameAttribute: pick('usernameAttribute'),
    emailAttribute: pick('emailAttribute'),
    displayNameAttribute: pick('displayNameAttribute'),
    emailVerified: pick('emailVerified'),
    subjectAttribute: pick('subjectAttribute'),
    groupMode: pick('groupMode'),
    memberOfAttribute: pick('memberOfAttribute'),
    groupBaseDn: pick('groupBaseDn'),
    groupObjectClass: pick('groupObjectClass'),
    groupMemberAttribute: pick('groupMemberAttribute'),
    groupMemberValue: pick('groupMemberValue'),
    groupNameAttribute: pick('groupNameAttribute'),
    connectTimeoutMs: pick('connectTimeoutMs'),
    operationTimeoutMs: pick('operationTimeoutMs'),
  };
  const problem = urlProblem(s.url, s.startTls);
  if (problem) throw invalid('url', problem);
  if (s.tlsCaFile !== null && !isAbsolute(s.tlsCaFile)) throw invalid('tlsCaFile', 'an absolute path');
  if (!s.baseDn.includes('=')) throw invalid('baseDn', 'a DN, e.g. dc=example,dc=org');
  if (s.bindMode === 'direct') {
    const t = s.bindDnTemplate ?? '';
    if (t.split('{username}').length !== 2 || !t.includes('='))
      throw invalid('bindDnTemplate', 'a DN holding {username} once, e.g. uid={username},ou=people,dc=example,dc=org');
  } else {
    if (!s.serviceDn?.includes('=')) throw invalid('serviceDn', 'search mode needs the service account DN');
    // Named before it is set (`palisade sso set-secret`): until then a sign-in answers SSO_PROVIDER_UNAVAILABLE.
    s.servicePasswordName ??= bindPasswordNameOf(slug);
  }
  // Only a secret of its own (D292): the service password is sent to the directory this provider names.
  if (s.servicePasswordName !== null && !s.servicePasswordName.startsWith(`sso.${slug}.`))
    throw invalid('servicePasswordName', `a provider's secret is one of its own (sso.${slug}.…)`);
  for (const k of [
    'userObjectClass',
    'userAttribute',
    'usernameAttribute',
    'emailAttribute',
    'displayNameAttribute',
    'memberOfAttribute',
    'groupObjectClass',
    'groupMemberAttribute',
    'groupNameAttribute',
  ] as const) {
    if (!ATTRIBUTE.test(s[k])) throw invalid(k, 'an attribute name');
  }
  if (s.subjectAttribute !== 'dn' && !ATTRIBUTE.test(s.subjectAttribute)) throw invalid('subjectAttribute', "an attribute name, or 'dn'");
  if (s.groupBaseDn !== null && !s.groupBaseDn.includes('=')) throw invalid('groupBaseDn', 'a DN');
  return s;
}
