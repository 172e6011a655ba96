import Type from 'typebox';
import Value from 'typebox/value';
import { AppError } from '../../errors.js';
import { ID_TOKEN_ALGS } from './types.js';

/**
 * The input of an identity provider (AUTH-13), declared once: the admin API's bodies and the CLI's
 * provider files are checked against it. `clientSecret` is write-only (stored in the secret store).
 */
export const SLUG_PATTERN = '^[a-z][a-z0-9-]{0,39}$';
/** A secret's name, as the secret store's rule (src/secrets/names.ts; auth does not import secrets). */
const SECRET_NAME = { minLength: 1, maxLength: 100, pattern: '^[A-Za-z][A-Za-z0-9._-]{0,99}$' };

export const Slug = Type.String({ minLength: 1, maxLength: 40, pattern: SLUG_PATTERN });
const Name = Type.String({ minLength: 1, maxLength: 64 });
const Names = Type.Array(Name, { maxItems: 100 });
export const Mapping = Type.Object(
  {
    claim: Type.String({ minLength: 1, maxLength: 100 }),
    value: Type.String({ minLength: 1, maxLength: 256 }),
    roles: Names,
    departments: Names,
  },
  { additionalProperties: false },
);
const OidcBody = Type.Object(
  {
    issuer: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    clientSecret: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 16384,
        description: 'Write-only: stored in the secret store as sso.<slug>.clientSecret; never returned.',
      }),
    ),
    clientSecretName: Type.Optional(
      Type.Union([Type.String(SECRET_NAME), Type.Null()], {
        description: 'An existing secret to use instead; null: a public client (PKCE only).',
      }),
    ),
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' }), { maxItems: 20 })),
    idTokenAlg: Type.Optional(Type.Union(ID_TOKEN_ALGS.map((a) => Type.Literal(a)))),
    userinfo: Type.Optional(Type.Boolean()),
    groupsClaim: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    usernameClaim: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);
const Dn = Type.String({ minLength: 3, maxLength: 1024 });
const Attribute = Type.String({ minLength: 1, maxLength: 100 });
const Millis = Type.Integer({ minimum: 200, maximum: 60_000 });
/** LDAP settings (docs/sso.md); `servicePassword` is write-only (the secret store keeps it). */
const LdapBody = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'ldap://host[:port] or ldaps://host[:port].' })),
    startTls: Type.Optional(Type.Boolean()),
    tlsCaFile: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 1024 }), Type.Null()], { description: 'An absolute path to a PEM CA file.' })),
    bindMode: Type.Optional(Type.Union([Type.Literal('direct'), Type.Literal('search')])),
    bindDnTemplate: Type.Optional(Type.Union([Dn, Type.Null()])),
    serviceDn: Type.Optional(Type.Union([Dn, Type.Null()])),
    servicePassword: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: 'Write-only: stored in the secret store as sso.<slug>.bindPassword; never returned.',
      }),
    ),
    servicePasswordName: Type.Optional(Type.Union([Type.String(SECRET_NAME), Type.Null()], { description: 'An existing secret to use instead.' })),
    baseDn: Type.Optional(Dn),
    userObjectClass: Type.Optional(Attribute),
    userAttribute: Type.Optional(Attribute),
    usernameAttribute: Type.Optional(Attribute),
    emailAttribute: Type.Optional(Attribute),
    displayNameAttribute: Type.Optional(Attribute),
    emailVerified: Type.Optional(Type.Boolean({ description: "The directory's email is maintained by its administrators." })),
    subjectAttribute: Type.Optional(Attribute),
    groupMode: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('memberOf'), Type.Literal('search')])),
    memberOfAttribute: Type.Optional(Attribute),
    groupBaseDn: Type.Optional(Type.Union([Dn, Type.Null()])),
    groupObjectClass: Type.Optional(Attribute),
    groupMemberAttribute: Type.Optional(Attribute),
    groupMemberValue: Type.Optional(Type.Union([Type.Literal('dn'), Type.Literal('username')])),
    groupNameAttribute: Type.Optional(Attribute),
    connectTimeoutMs: Type.Optional(Millis),
    operationTimeoutMs: Type.Optional(Millis),
  },
  { additionalProperties: false },
);
const Pem = Type.String({ minLength: 1, maxLength: 16384 });
/**
 * A URI that Palisade writes into SAML's XML (an entity id, an endpoint, a NameID format): printable ASCII without
 * spaces, as a URI is; a control character or a noncharacter would make the metadata and every request fail (D466).
 */
const SamlUri = (maxLength: number, description?: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[\\x21-\\x7E]+$', ...(description ? { description } : {}) });
/** SAML settings (docs/sso.md); `spPrivateKey` is write-only (the secret store keeps it). */
const SamlBody = Type.Object(
  {
    idpEntityId: Type.Optional(SamlUri(1024)),
    ssoUrl: Type.Optional(SamlUri(1024, "The IdP's SingleSignOnService (HTTP-Redirect).")),
    sloUrl: Type.Optional(Type.Union([SamlUri(1024), Type.Null()], { description: "The IdP's SingleLogoutService." })),
    idpCertificates: Type.Optional(Type.Array(Pem, { minItems: 1, maxItems: 4, description: "The IdP's signing certificates (PEM or base64)." })),
    spEntityId: Type.Optional(Type.Union([SamlUri(1024), Type.Null()], { description: 'null: PUBLIC_URL/api/auth/sso/<slug>/saml/metadata.' })),
    spCertificate: Type.Optional(Type.Union([Pem, Type.Null()])),
    spPrivateKey: Type.Optional(
      Type.String({ minLength: 1, maxLength: 16384, description: 'Write-only: stored in the secret store as sso.<slug>.spPrivateKey; never returned.' }),
    ),
    spPrivateKeyName: Type.Optional(Type.Union([Type.String(SECRET_NAME), Type.Null()], { description: 'An existing secret to use instead.' })),
    wantEncryptedAssertions: Type.Optional(Type.Boolean()),
    nameIdFormat: Type.Optional(SamlUri(256)),
    emailAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    usernameAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    groupsAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    emailVerified: Type.Optional(Type.Boolean({ description: 'The IdP verifies the email it asserts.' })),
    clockSkewSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 180 })),
  },
  { additionalProperties: false },
);
/** CAS settings (docs/sso.md); there is no secret. */
const CasBody = Type.Object(
  {
    serverUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "The CAS server's base address, e.g. https://cas.example.org/cas." })),
    emailAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    usernameAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    groupsAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    emailVerified: Type.Optional(Type.Boolean({ description: "The server's email attribute is verified." })),
    timeoutMs: Type.Optional(Millis),
  },
  { additionalProperties: false },
);
const ProviderType = Type.Union([Type.Literal('oidc'), Type.Literal('ldap'), Type.Literal('saml'), Type.Literal('cas')]);
const common = {
  displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  enabled: Type.Optional(Type.Boolean()),
  provisioning: Type.Optional(Type.Union([Type.Literal('jit'), Type.Literal('existing')])),
  defaultRoles: Type.Optional(Names),
  defaultDepartments: Type.Optional(Names),
  mappings: Type.Optional(Type.Array(Mapping, { maxItems: 200 })),
  emailDomains: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 100 })),
  trustEmail: Type.Optional(Type.Boolean({ description: 'email_verified=true on one of emailDomains may link to an existing account by itself.' })),
  trustMfa: Type.Optional(Type.Boolean({ description: "The provider's MFA assertion (amr) stands in for Palisade's second factor." })),
  oidc: Type.Optional(OidcBody),
  ldap: Type.Optional(LdapBody),
  saml: Type.Optional(SamlBody),
  cas: Type.Optional(CasBody),
};
export const CreateBody = Type.Object({ slug: Slug, type: ProviderType, ...common }, { additionalProperties: false });
export const PatchBody = Type.Object({ type: Type.Optional(ProviderType), ...common }, { additionalProperties: false });

/** A provider file of the CLI (the create body without `slug`, or a patch), checked like the API's body; a secret in it is refused. */
export function checkProviderFile(value: unknown, create: boolean): void {
  const schema = create ? Type.Object(Type.Omit(CreateBody, ['slug']).properties, { additionalProperties: false }) : PatchBody;
  if (value !== null && typeof value === 'object' && 'oidc' in value && value.oidc && typeof value.oidc === 'object' && 'clientSecret' in value.oidc) {
    throw new AppError('VALIDATION_FAILED', [
      { path: '/oidc/clientSecret', message: 'the client secret is read from standard input (sso set-secret), never from a file' },
    ]);
  }
  if (value !== null && typeof value === 'object' && 'ldap' in value && value.ldap && typeof value.ldap === 'object' && 'servicePassword' in value.ldap) {
    throw new AppError('VALIDATION_FAILED', [
      { path: '/ldap/servicePassword', message: 'the service password is read from standard input (sso set-secret), never from a file' },
    ]);
  }
  if (value !== null && typeof value === 'object' && 'saml' in value && value.saml && typeof value.saml === 'object' && 'spPrivateKey' in value.saml) {
    throw new AppError('VALIDATION_FAILED', [
      { path: '/saml/spPrivateKey', message: 'the SP private key is read from standard input (sso set-secret), never from a file' },
    ]);
  }
  if (Value.Check(schema, value)) return;
  const e = Value.Errors(schema, value)[0];
  throw new AppError('VALIDATION_FAILED', [{ path: e?.instancePath || '/', message: e?.message ?? 'invalid' }]);
}

/**
 * A provider in a configuration document (DATA-5): every setting, the client secret only by its secret-store
 * name. `providerProblems` lists what is wrong with each entry.
 */
export const ProviderEntry = Type.Object(
  {
    slug: Slug,
    type: ProviderType,
    ...common,
    oidc: Type.Optional(Type.Object(Type.Omit(OidcBody, ['clientSecret']).properties, { additionalProperties: false })),
    ldap: Type.Optional(Type.Object(Type.Omit(LdapBody, ['servicePassword']).properties, { additionalProperties: false })),
    saml: Type.Optional(Type.Object(Type.Omit(SamlBody, ['spPrivateKey']).properties, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export function providerProblems(list: unknown[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const [i, p] of list.entries()) {
    if (!Value.Check(ProviderEntry, p)) {
      const e = Value.Errors(ProviderEntry, p)[0];
      out.push(
        `identityProviders[${i}]${e?.instancePath ?? ''}: ${e?.message ?? 'not valid'} (a secret is named by oidc.clientSecretName, ldap.servicePasswordName or saml.spPrivateKeyName, never given)`,
      );
      continue;
    }
    const { slug, type } = p as { slug: string; type: string };
    if (!(type in (p as object))) out.push(`identityProviders[${i}]: a ${type} provider needs its ${type} settings`);
    if (seen.has(slug)) out.push(`identityProviders[${i}]: ${slug} is listed twice`);
    seen.add(slug);
  }
  return out;
}
