import { AppError } from '../../errors.js';
import { issuerProblem } from './oidc.js';
import { bindPasswordNameOf, ldapSettings, type LdapInput } from './ldap/settings.js';
import { samlSettings, spKeyNameOf, type SamlInput } from './saml/settings.js';
import { casSettings, type CasInput } from './cas/settings.js';
import { ID_TOKEN_ALGS, type CasSettings, type IdTokenAlg, type LdapSettings, type OidcSettings, type Provider, type SamlSettings } from './types.js';

/** The secret store's name of a provider's client secret when given through the provider's API. */
export const clientSecretNameOf = (slug: string) => `sso.${slug}.clientSecret`;

export interface OidcInput {
  issuer?: string;
  clientId?: string;
  /** Write-only: stored in the secret store under `sso.<slug>.clientSecret`. */
  clientSecret?: string;
  /** Names an existing secret instead; null: a public client (PKCE only). */
  clientSecretName?: string | null;
  scopes?: string[];
  idTokenAlg?: IdTokenAlg;
  userinfo?: boolean;
  groupsClaim?: string;
  usernameClaim?: string;
}

/** The settings input of each type, under the key of its type's name. */
export interface KindInputs {
  oidc: OidcInput;
  ldap: LdapInput;
  saml: SamlInput;
  cas: CasInput;
}
export type ImplementedType = keyof KindInputs;

/**
 * What differs between provider types for the store, declared once per type (instead of a ternary per place):
 * how its settings are checked, its own secret (the write-only input field, the name it is stored under, the
 * settings field naming it) and what an event says of it.
 */
export interface Kind<T extends ImplementedType> {
  settings(slug: string, old: Extract<Provider, { type: T }>['settings'] | null, input: KindInputs[T]): Extract<Provider, { type: T }>['settings'];
  /** The write-only input field holding the secret, and the settings field naming it in the secret store (null: no secret). */
  secretField: (keyof KindInputs[T] & string) | null;
  secretNameField: (keyof Extract<Provider, { type: T }>['settings'] & string) | null;
  /** The name a secret given through the API is stored under (null: the type has no secret). */
  ownSecretName: ((slug: string) => string) | null;
  /** What a provider event says of the settings: the security-relevant ones, never a secret. */
  summary(s: Extract<Provider, { type: T }>['settings']): Record<string, unknown>;
  /** Whether the sign-in is a browser redirect to the provider and back (else a form, LDAP). */
  redirect: boolean;
  /** The issuer a link made with this provider names (a link answers only to the same issuer). */
  issuerOf(s: Extract<Provider, { type: T }>['settings']): string;
  /** The address the server itself connects to (OIDC discovery, the directory, ticket validation); null: none (SAML). */
  connectsTo(s: Extract<Provider, { type: T }>['settings']): string | null;
  /** How the admin API's view says whether the secret is set, and how the CLI names it. */
  secretSetField: string;
  secretLabel: string;
  /** The CLI's one-line description of the settings. */
  line(s: Extract<Provider, { type: T }>['settings']): string;
}

const invalid = (path: string, message: string) => new AppError('VALIDATION_FAILED', [{ path, message }]);

/**
 * A provider may name only a secret of its own (`sso.<slug>.…`) or none (D292): its secret is sent to the
 * provider's server, so naming another feature's secret (the SMTP password) would hand it to whoever runs that server.
 */
export function checkSecretName(slug: string, name: string | null, path: string): void {
  if (name !== null && !name.startsWith(`sso.${slug}.`)) throw invalid(path, `a provider's secret is one of its own (sso.${slug}.…)`);
}

function oidcSettings(slug: string, old: OidcSettings | null, i: OidcInput): OidcSettings {
  const s: OidcSettings = {
    issuer: i.issuer ?? old?.issuer ?? '',
    clientId: i.clientId ?? old?.clientId ?? '',
    clientSecretName:
      i.clientSecret !== undefined ? clientSecretNameOf(slug) : i.clientSecretName !== undefined ? i.clientSecretName : (old?.clientSecretName ?? null),
    scopes: [...new Set(i.scopes ?? old?.scopes ?? ['email', 'profile'])],
    idTokenAlg: i.idTokenAlg ?? old?.idTokenAlg ?? 'RS256',
    userinfo: i.userinfo ?? old?.userinfo ?? true,
    groupsClaim: i.groupsClaim ?? old?.groupsClaim ?? 'groups',
    usernameClaim: i.usernameClaim ?? old?.usernameClaim ?? 'preferred_username',
  };
  checkSecretName(slug, s.clientSecretName, '/oidc/clientSecretName');
  if (old === null && (!i.issuer || !i.clientId)) throw invalid('/oidc', 'issuer and clientId are required');
  const problem = issuerProblem(s.issuer);
  if (problem) throw invalid('/oidc/issuer', problem);
  if (!(ID_TOKEN_ALGS as readonly string[]).includes(s.idTokenAlg)) throw invalid('/oidc/idTokenAlg', `one of ${ID_TOKEN_ALGS.join(', ')}`);
  if (!s.clientId) throw invalid('/oidc/clientId', 'required');
  return s;
}

function samlChecked(slug: string, old: SamlSettings | null, i: SamlInput): SamlSettings {
  const s = samlSettings(slug, old, i);
  checkSecretName(slug, s.spPrivateKeyName, '/saml/spPrivateKeyName');
  return s;
}

export const KINDS: { readonly [T in ImplementedType]: Kind<T> } = Object.freeze({
  oidc: {
    settings: oidcSettings,
    secretField: 'clientSecret',
    secretNameField: 'clientSecretName',
    ownSecretName: clientSecretNameOf,
    summary: (s: OidcSettings) => ({ issuer: s.issuer }),
    redirect: true,
    issuerOf: (s: OidcSettings) => s.issuer,
    connectsTo: (s: OidcSettings) => s.issuer,
    secretSetField: 'clientSecretSet',
    secretLabel: 'the client secret',
    line: (s: OidcSettings) => `issuer ${s.issuer}  client ${s.clientId}`,
  },
  ldap: {
    settings: ldapSettings,
    secretField: 'servicePassword',
    secretNameField: 'servicePasswordName',
    ownSecretName: bindPasswordNameOf,
    summary: (s: LdapSettings) => ({ url: s.url, bindMode: s.bindMode }),
    redirect: false,
    issuerOf: (s: LdapSettings) => s.url,
    connectsTo: (s: LdapSettings) => s.url,
    secretSetField: 'servicePasswordSet',
    secretLabel: 'the service account password',
    line: (s: LdapSettings) => `url ${s.url}  bind ${s.bindMode}`,
  },
  saml: {
    settings: samlChecked,
    secretField: 'spPrivateKey',
    secretNameField: 'spPrivateKeyName',
    ownSecretName: spKeyNameOf,
    summary: (s: SamlSettings) => ({ idpEntityId: s.idpEntityId, ssoUrl: s.ssoUrl, wantEncryptedAssertions: s.wantEncryptedAssertions }),
    redirect: true,
    issuerOf: (s: SamlSettings) => s.idpEntityId,
    // The browser carries every SAML message; the server connects to nothing.
    connectsTo: () => null,
    secretSetField: 'spPrivateKeySet',
    secretLabel: 'the SP private key (PEM)',
    line: (s: SamlSettings) => `idp ${s.idpEntityId}  sso ${s.ssoUrl}`,
  },
  cas: {
    settings: casSettings,
    secretField: null,
    secretNameField: null,
    ownSecretName: null,
    summary: (s: CasSettings) => ({ serverUrl: s.serverUrl }),
    redirect: true,
    issuerOf: (s: CasSettings) => s.serverUrl,
    connectsTo: (s: CasSettings) => s.serverUrl,
    secretSetField: 'secretSet',
    secretLabel: 'no secret',
    line: (s: CasSettings) => `server ${s.serverUrl}`,
  },
});

export const IMPLEMENTED_TYPES = Object.keys(KINDS) as ImplementedType[];
export const isImplemented = (t: unknown): t is ImplementedType => typeof t === 'string' && Object.hasOwn(KINDS, t);

/** The kind of a provider, typed loosely for code that treats every type alike. */
export const kindOf = (type: ImplementedType): Kind<ImplementedType> => KINDS[type] as unknown as Kind<ImplementedType>;

/** The secret-store name of the provider's own secret, or null. */
export const secretNameOf = (p: Provider): string | null => {
  const field = kindOf(p.type).secretNameField;
  return field === null ? null : ((p.settings as unknown as Record<string, string | null>)[field] ?? null);
};
