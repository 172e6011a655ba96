import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { providerKind, type ProviderView } from '../../auth/sso/index.js';
import { CreateBody, Mapping, PatchBody, Slug } from '../../auth/sso/schema.js';
import { AppError } from '../../errors.js';
import { IdParam, errorResponses } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';
import { LinkParams, LinkSchema, linkView } from './sso.js';

const ProviderSchema = Type.Object({
  slug: Type.String(),
  type: Type.String(),
  displayName: Type.String(),
  enabled: Type.Boolean(),
  provisioning: Type.String(),
  defaultRoles: Type.Array(Type.String()),
  defaultDepartments: Type.Array(Type.String()),
  mappings: Type.Array(Mapping),
  emailDomains: Type.Array(Type.String()),
  trustEmail: Type.Boolean(),
  trustMfa: Type.Boolean(),
  oidc: Type.Optional(
    Type.Object({
      issuer: Type.String(),
      clientId: Type.String(),
      clientSecretName: Type.Union([Type.String(), Type.Null()]),
      clientSecretSet: Type.Boolean({ description: 'Whether the named secret is set; its value is never returned.' }),
      scopes: Type.Array(Type.String()),
      idTokenAlg: Type.String(),
      userinfo: Type.Boolean(),
      groupsClaim: Type.String(),
      usernameClaim: Type.String(),
    }),
  ),
  ldap: Type.Optional(
    Type.Object({
      url: Type.String(),
      startTls: Type.Boolean(),
      tlsCaFile: Type.Union([Type.String(), Type.Null()]),
      bindMode: Type.String(),
      bindDnTemplate: Type.Union([Type.String(), Type.Null()]),
      serviceDn: Type.Union([Type.String(), Type.Null()]),
      servicePasswordName: Type.Union([Type.String(), Type.Null()]),
      servicePasswordSet: Type.Boolean({ description: 'Whether the named secret is set; its value is never returned.' }),
      baseDn: Type.String(),
      userObjectClass: Type.String(),
      userAttribute: Type.String(),
      usernameAttribute: Type.String(),
      emailAttribute: Type.String(),
      displayNameAttribute: Type.String(),
      emailVerified: Type.Boolean(),
      subjectAttribute: Type.String(),
      groupMode: Type.String(),
      memberOfAttribute: Type.String(),
      groupBaseDn: Type.Union([Type.String(), Type.Null()]),
      groupObjectClass: Type.String(),
      groupMemberAttribute: Type.String(),
      groupMemberValue: Type.String(),
      groupNameAttribute: Type.String(),
      connectTimeoutMs: Type.Integer(),
      operationTimeoutMs: Type.Integer(),
    }),
  ),
  saml: Type.Optional(
    Type.Object({
      idpEntityId: Type.String(),
      ssoUrl: Type.String(),
      sloUrl: Type.Union([Type.String(), Type.Null()]),
      idpCertificates: Type.Array(Type.String()),
      spEntityId: Type.Union([Type.String(), Type.Null()]),
      spCertificate: Type.Union([Type.String(), Type.Null()]),
      spPrivateKeyName: Type.Union([Type.String(), Type.Null()]),
      spPrivateKeySet: Type.Boolean({ description: 'Whether the named secret is set; its value is never returned.' }),
      wantEncryptedAssertions: Type.Boolean(),
      nameIdFormat: Type.String(),
      emailAttribute: Type.String(),
      usernameAttribute: Type.String(),
      groupsAttribute: Type.String(),
      emailVerified: Type.Boolean(),
      clockSkewSeconds: Type.Integer(),
    }),
  ),
  cas: Type.Optional(
    Type.Object({
      serverUrl: Type.String(),
      emailAttribute: Type.String(),
      usernameAttribute: Type.String(),
      groupsAttribute: Type.String(),
      emailVerified: Type.Boolean(),
      timeoutMs: Type.Integer(),
    }),
  ),
  callbackUrl: Type.Union([Type.String(), Type.Null()], {
    description: 'The address to register at the provider: the redirect URI (OIDC), the assertion consumer service (SAML); null for LDAP.',
  }),
  metadataUrl: Type.Optional(Type.String({ description: "SAML: our SP metadata, for the IdP's registration." })),
  loginUrl: Type.Optional(Type.String({ description: 'LDAP: the address the sign-in form posts the username and password to.' })),
  backchannelLogoutUrl: Type.Optional(
    Type.String({ description: 'OIDC: the back-channel logout URI to register at the provider (its logout tokens end the sessions its sign-ins opened).' }),
  ),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const SlugParam = Type.Object({ slug: Slug }, { additionalProperties: false });

/**
 * Identity providers (AUTH-13) under /api/admin/sso: administrators only (a session, never an API key).
 * The client secret is write-only: it goes to the secret store and no answer carries it.
 */
export const adminSsoRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['admin: single sign-on'];
    const config = { auth: 'admin' as const };
    const view = (p: ProviderView) => {
      const { settings, clientSecretSet, createdAt, updatedAt, ...rest } = p;
      const at = `${s.config.mail.publicUrl}/api/auth/sso/${p.slug}`;
      const addresses =
        p.type === 'ldap'
          ? { callbackUrl: null, loginUrl: `${at}/login` }
          : p.type === 'saml'
            ? { callbackUrl: `${at}/acs`, metadataUrl: `${at}/saml/metadata` }
            : p.type === 'oidc'
              ? { callbackUrl: `${at}/callback`, backchannelLogoutUrl: `${at}/backchannel-logout` }
              : { callbackUrl: `${at}/callback` };
      return {
        ...rest,
        [p.type]: p.type === 'cas' ? { ...settings } : { ...settings, [providerKind(p.type).secretSetField]: clientSecretSet },
        ...addresses,
        createdAt: new Date(createdAt).toISOString(),
        updatedAt: new Date(updatedAt).toISOString(),
      } as Static<typeof ProviderSchema>;
    };
    const one = async (slug: string) => {
      const p = await s.sso.providers.get(slug);
      if (!p) throw new AppError('NOT_FOUND');
      return { provider: view(await s.sso.providers.view(p)) };
    };
    const Answer = Type.Object({ provider: ProviderSchema });

    app.get(
      '/sso/providers',
      { config, schema: { tags, response: { 200: Type.Object({ providers: Type.Array(ProviderSchema) }), ...errorResponses } } },
      async () => ({ providers: await Promise.all((await s.sso.providers.list()).map(async (p) => view(await s.sso.providers.view(p)))) }),
    );

    app.post(
      '/sso/providers',
      {
        config: { ...config, rateLimit: 'write', recentAuth: true },
        schema: { tags, description: 'Creates an identity provider (`sso.provider_created`).', body: CreateBody, response: { 201: Answer, ...errorResponses } },
      },
      async (req, reply) => {
        const { slug, ...input } = req.body;
        await s.sso.providers.create(slug, input, actorContext(req));
        reply.code(201);
        return one(slug);
      },
    );

    app.get('/sso/providers/:slug', { config, schema: { tags, params: SlugParam, response: { 200: Answer, ...errorResponses } } }, async (req) =>
      one(req.params.slug),
    );

    app.patch(
      '/sso/providers/:slug',
      {
        config: { ...config, rateLimit: 'write', recentAuth: true },
        schema: {
          tags,
          description: 'Changes a provider (`sso.provider_updated`).',
          params: SlugParam,
          body: PatchBody,
          response: { 200: Answer, ...errorResponses },
        },
      },
      async (req) => {
        await s.sso.providers.update(req.params.slug, req.body, actorContext(req));
        return one(req.params.slug);
      },
    );

    app.delete(
      '/sso/providers/:slug',
      {
        config: { ...config, rateLimit: 'write', recentAuth: true },
        schema: {
          tags,
          description: 'Deletes a provider with its links and its own client secret (`sso.provider_deleted`); its users stay.',
          params: SlugParam,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        if (!(await s.sso.providers.delete(req.params.slug, actorContext(req)))) throw new AppError('NOT_FOUND');
        reply.code(204);
      },
    );

    app.get(
      '/users/:id/sso-links',
      { config, schema: { tags, params: IdParam, response: { 200: Type.Object({ links: Type.Array(LinkSchema) }), ...errorResponses } } },
      async (req) => ({ links: (await s.sso.linksOf(req.params.id)).map(linkView) }),
    );

    app.post(
      '/users/:id/sso-links',
      {
        config: { ...config, rateLimit: 'write' },
        schema: {
          tags,
          description: "Links a provider identity (the provider's subject) to the user (`sso.linked`).",
          params: IdParam,
          body: Type.Object({ provider: Slug, subject: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.sso.adminLink(req.params.id, req.body.provider, req.body.subject, actorContext(req));
        reply.code(204);
      },
    );

    app.delete(
      '/users/:id/sso-links/:provider/:subject',
      {
        config: { ...config, rateLimit: 'write' },
        schema: {
          tags,
          description: 'Unlinks a provider identity from the user (`sso.unlinked`).',
          params: Type.Object({ id: IdParam.properties.id, ...LinkParams.properties }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        if (!(await s.sso.unlink(req.params.id, req.params.provider, req.params.subject, 'admin', actorContext(req)))) throw new AppError('NOT_FOUND');
        reply.code(204);
      },
    );
  };
