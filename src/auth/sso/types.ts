/**
 * Single sign-on (AUTH-13): the shapes every protocol shares. A provider is runtime configuration (the
 * `identity_providers` table); its `type` picks the protocol, and each protocol brings its settings
 * and an implementation of `SsoProtocol`. OIDC is built; SAML, LDAP and CAS slot in as further members
 * of the unions below and further files beside `oidc.ts`.
 */

/** The protocols Palisade knows: 'oidc', 'saml' and 'cas' (redirects) and 'ldap' (a directory). */
export const PROVIDER_TYPES = ['oidc', 'ldap', 'saml', 'cas'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** OIDC relying-party settings. The client secret is never here: only the secret store's name of it. */
export interface OidcSettings {
  /** The issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`. https, or http on loopback only. */
  issuer: string;
  clientId: string;
  /** The secret store's name of the client secret; null for a public client (PKCE only). */
  clientSecretName: string | null;
  /** Scopes asked for besides `openid`. */
  scopes: string[];
  /** The one algorithm ID tokens must be signed with (an asymmetric one: never `none`, never HS*). */
  idTokenAlg: IdTokenAlg;
  /** Whether to call the userinfo endpoint and merge its claims (the ID token's win on conflict). */
  userinfo: boolean;
  /** The claim that holds the user's groups (a string or an array of strings). */
  groupsClaim: string;
  /** The claim whose value becomes the username of a user created just in time. */
  usernameClaim: string;
}

export const ID_TOKEN_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type IdTokenAlg = (typeof ID_TOKEN_ALGS)[number];

/** A rule of the mapping: a claim holding `value` (equal, or among an array's items) gives these roles and departments. */
export interface ClaimMapping {
  claim: string;
  value: string;
  roles: string[];
  departments: string[];
}

/** What every provider has, whatever its protocol. */
export interface ProviderCommon {
  slug: string;
  displayName: string;
  enabled: boolean;
  /** 'jit': a first sign-in creates the user; 'existing': the user must already be linked (or claimable by a trusted email). */
  provisioning: 'jit' | 'existing';
  /** Given once, to a user created just in time. */
  defaultRoles: string[];
  defaultDepartments: string[];
  /** Synchronised at every sign-in: added and removed. */
  mappings: ClaimMapping[];
  /** The email domains this provider may claim (lower case); empty: it claims none. */
  emailDomains: string[];
  /** Whether an email with email_verified=true on one of those domains may link to an existing account by itself. */
  trustEmail: boolean;
  /** Whether the provider's MFA assertion (amr / acr) stands in for Palisade's second factor. */
  trustMfa: boolean;
  createdAt: number;
  updatedAt: number;
}

/** LDAP settings (see docs/sso.md). The service account's password is never here: only the secret store's name of it. */
export interface LdapSettings {
  /** ldap://host[:port] or ldaps://host[:port]; plain ldap:// without StartTLS only on loopback. */
  url: string;
  /** Upgrade an ldap:// connection with StartTLS before anything is sent. */
  startTls: boolean;
  /** An absolute path to a PEM file of the CA(s) that sign the server's certificate; null: the system's CAs. Verification is always on. */
  tlsCaFile: string | null;
  /** 'direct': bind as `bindDnTemplate` with the username put in; 'search': bind as the service account, find the user, bind as the found DN. */
  bindMode: 'direct' | 'search';
  /** For 'direct': a DN holding `{username}` once, e.g. `uid={username},ou=people,dc=example,dc=org` (the value is escaped, RFC 4514). */
  bindDnTemplate: string | null;
  /** For 'search': the service account's DN. */
  serviceDn: string | null;
  /** For 'search': the secret store's name of the service account's password. */
  servicePasswordName: string | null;
  /** Where users are searched for (search mode) and groups by default. */
  baseDn: string;
  /** The object class a user entry has (the search filter's other half). */
  userObjectClass: string;
  /** The attribute the typed username is matched against (search mode), e.g. uid or sAMAccountName. */
  userAttribute: string;
  /** The attributes a new user's username, email and display name come from. */
  usernameAttribute: string;
  emailAttribute: string;
  displayNameAttribute: string;
  /** Whether the directory's email is maintained by its administrators (then it counts as verified for linking and new users). */
  emailVerified: boolean;
  /** The attribute whose value names the identity for good (entryUUID, or 'dn' for the entry's DN). */
  subjectAttribute: string;
  /** How groups are found: none; the user entry's `memberOfAttribute`; or a search under `groupBaseDn`. */
  groupMode: 'none' | 'memberOf' | 'search';
  memberOfAttribute: string;
  /** null: `baseDn`. */
  groupBaseDn: string | null;
  groupObjectClass: string;
  /** The group attribute that lists members (member, uniqueMember: a DN; memberUid: a username). */
  groupMemberAttribute: string;
  /** Whether the member attribute holds the user's DN or their username. */
  groupMemberValue: 'dn' | 'username';
  /** The group attribute whose values are the names the mapping's `groups` claim holds. */
  groupNameAttribute: string;
  /** Milliseconds to wait for the TCP (and TLS) connection, and for each operation. */
  connectTimeoutMs: number;
  operationTimeoutMs: number;
}

/** SAML 2.0 service-provider settings (see docs/sso.md). The SP's private key is never here: only the secret store's name of it. */
export interface SamlSettings {
  /** The IdP's entity id: the assertion's Issuer must equal it. */
  idpEntityId: string;
  /** The IdP's single sign-on service (HTTP-Redirect binding). https, or http on loopback only. */
  ssoUrl: string;
  /** The IdP's single logout service (HTTP-Redirect binding); null: the IdP has none. */
  sloUrl: string | null;
  /** The IdP's signing certificates (PEM or bare base64), one or more (a rollover lists two). */
  idpCertificates: string[];
  /** Our entity id (the audience); null: `PUBLIC_URL/api/auth/sso/<slug>/saml/metadata`. */
  spEntityId: string | null;
  /** Our certificate (PEM) for the metadata: the key IdPs encrypt to and check our signed requests with; null: none. */
  spCertificate: string | null;
  /** The secret store's name of our private key (decrypts assertions, signs requests); null: none. */
  spPrivateKeyName: string | null;
  /** Refuse assertions that are not encrypted (needs the certificate and the key). */
  wantEncryptedAssertions: boolean;
  /** The NameID format asked for; the NameID is the subject. */
  nameIdFormat: string;
  /** Attribute names (a name or an OID URI) for the email, the username and the groups. */
  emailAttribute: string;
  usernameAttribute: string;
  groupsAttribute: string;
  /** Whether the IdP verifies the email it asserts (then it counts as verified for linking and new users). */
  emailVerified: boolean;
  /** Allowed clock difference in seconds (0–180). */
  clockSkewSeconds: number;
}

/** CAS 3.0 client settings (see docs/sso.md). There is no secret: a service ticket is checked at the server. */
export interface CasSettings {
  /** The CAS server's base address (`<serverUrl>/login`, `<serverUrl>/p3/serviceValidate`). https, or http on loopback only. */
  serverUrl: string;
  /** Attribute names for the email, the username and the groups. */
  emailAttribute: string;
  usernameAttribute: string;
  groupsAttribute: string;
  /** Whether the server's email attribute is verified (then it counts as verified for linking and new users). */
  emailVerified: boolean;
  /** Milliseconds to wait for the ticket validation. */
  timeoutMs: number;
}

export type OidcProvider = ProviderCommon & { type: 'oidc'; settings: OidcSettings };
export type LdapProvider = ProviderCommon & { type: 'ldap'; settings: LdapSettings };
export type SamlProvider = ProviderCommon & { type: 'saml'; settings: SamlSettings };
export type CasProvider = ProviderCommon & { type: 'cas'; settings: CasSettings };
export type Provider = OidcProvider | LdapProvider | SamlProvider | CasProvider;
/** A provider whose sign-in is a browser redirect to it and back. */
export type RedirectProvider = OidcProvider | SamlProvider | CasProvider;

/** The identity a protocol proved: who, at which issuer, and what it says about them. */
export interface ProvenIdentity {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  /** A proposed username (from the configured claim), not trusted for anything but a new user's name. */
  username: string | null;
  /** Every claim, for the mapping (groups and other attributes). */
  claims: Record<string, unknown>;
  /** Whether the provider asserted a multi-factor sign-in: amr holds `mfa`, or methods of two kinds (oidc.ts `multiFactor`). */
  mfa: boolean;
  /** The provider's own session, which a single logout names: OIDC's `sid` claim, SAML's SessionIndex; null: none given. */
  providerSession: string | null;
}

/** What came back to Palisade from the provider: the callback's full URL (a GET's query), and a POST binding's form fields. */
export interface CallbackInput {
  url: URL;
  form: Readonly<Record<string, string>> | null;
}

/** What a protocol must do for a redirect-based sign-in (OIDC, SAML, CAS). */
export interface RedirectProtocol<P extends RedirectProvider = RedirectProvider> {
  /** The address to send the browser to, with what the flow must keep server-side (`state` travels with the browser). */
  start(p: P, redirectUri: string): Promise<{ url: string; kept: FlowSecrets }>;
  /** The flow's state as the callback carries it (OIDC: `state`; SAML: `RelayState`), or null. */
  stateOf(cb: CallbackInput): string | null;
  /** An error the provider reported instead of an answer, or null. */
  providerError(cb: CallbackInput): string | null;
  /** Finishes at the callback with the kept secrets; throws SSO_FAILED on anything wrong. */
  finish(p: P, cb: CallbackInput, kept: FlowSecrets & { state: string }): Promise<ProvenIdentity>;
}

/**
 * What a directory protocol must do (LDAP): a username and password checked at the provider. A refusal of
 * the credentials throws `DirectoryRefusal`; a provider that cannot be reached, SSO_PROVIDER_UNAVAILABLE.
 */
export interface DirectoryProtocol {
  verify(p: LdapProvider, username: string, password: string): Promise<ProvenIdentity>;
}

/** Kept server-side between the redirect and the callback. */
export interface FlowSecrets {
  state: string;
  /** OIDC: the nonce; SAML: the AuthnRequest's ID (the answer's InResponseTo must name it). */
  nonce: string;
  /** OIDC: the PKCE verifier; SAML: empty. */
  codeVerifier: string;
}
