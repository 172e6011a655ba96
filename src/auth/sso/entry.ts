import type { ProviderInput } from './providers.js';
import { LDAP_DEFAULTS } from './ldap/settings.js';
import { SAML_DEFAULTS } from './saml/settings.js';
import { CAS_DEFAULTS } from './cas/settings.js';
import type { ImplementedType } from './kinds.js';
import type { CasSettings, LdapSettings, OidcSettings, Provider, SamlSettings } from './types.js';

/** A provider as a configuration document holds it (DATA-5): every setting, a secret by its name only. */
export interface ProviderEntry {
  slug: string;
  type: ImplementedType;
  displayName: string;
  enabled: boolean;
  provisioning: 'jit' | 'existing';
  defaultRoles: string[];
  defaultDepartments: string[];
  mappings: Provider['mappings'];
  emailDomains: string[];
  trustEmail: boolean;
  trustMfa: boolean;
  oidc?: OidcSettings;
  ldap?: LdapSettings;
  saml?: SamlSettings;
  cas?: CasSettings;
}

export function entryOf(p: Provider): ProviderEntry {
  return {
    slug: p.slug,
    type: p.type,
    displayName: p.displayName,
    enabled: p.enabled,
    provisioning: p.provisioning,
    defaultRoles: [...p.defaultRoles].sort(),
    defaultDepartments: [...p.defaultDepartments].sort(),
    mappings: p.mappings,
    emailDomains: [...p.emailDomains].sort(),
    trustEmail: p.trustEmail,
    trustMfa: p.trustMfa,
    ...(p.type === 'oidc' ? { oidc: { ...p.settings, scopes: [...p.settings.scopes] } } : { [p.type]: structuredClone(p.settings) }),
  };
}

/** An entry as the store's input: what the entry leaves out takes the store's defaults (a full replacement). */
export function inputOf(
  e: Partial<Omit<ProviderEntry, 'oidc' | 'ldap' | 'saml' | 'cas'>> & {
    oidc?: Partial<OidcSettings>;
    ldap?: Partial<LdapSettings>;
    saml?: Partial<SamlSettings>;
    cas?: Partial<CasSettings>;
  },
): ProviderInput {
  const common = {
    displayName: e.displayName,
    enabled: e.enabled ?? true,
    provisioning: e.provisioning ?? 'jit',
    defaultRoles: e.defaultRoles ?? [],
    defaultDepartments: e.defaultDepartments ?? [],
    mappings: e.mappings ?? [],
    emailDomains: e.emailDomains ?? [],
    trustEmail: e.trustEmail ?? false,
    trustMfa: e.trustMfa ?? false,
  } satisfies ProviderInput;
  if (e.type === 'ldap') return { type: 'ldap', ...common, ldap: { ...LDAP_DEFAULTS, ...e.ldap } };
  if (e.type === 'saml') return { type: 'saml', ...common, saml: { ...SAML_DEFAULTS, ...e.saml } };
  if (e.type === 'cas') return { type: 'cas', ...common, cas: { ...CAS_DEFAULTS, ...e.cas } };
  const o = e.oidc ?? {};
  return {
    type: 'oidc',
    ...common,
    oidc: {
      issuer: o.issuer,
      clientId: o.clientId,
      clientSecretName: o.clientSecretName ?? null,
      scopes: o.scopes ?? ['email', 'profile'],
      idTokenAlg: o.idTokenAlg ?? 'RS256',
      userinfo: o.userinfo ?? true,
      groupsClaim: o.groupsClaim ?? 'groups',
      usernameClaim: o.usernameClaim ?? 'preferred_username',
    },
  };
}
