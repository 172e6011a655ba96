import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { OIDC_SCOPES, type OidcClient } from '../../auth/oidc-provider/index.js';
import { AppError } from '../../errors.js';
import { Label, errorResponses } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';

const ClientSchema = Type.Object({
  clientId: Type.String(),
  name: Type.String(),
  redirectUris: Type.Array(Type.String()),
  confidential: Type.Boolean(),
  scopes: Type.Array(Type.String()),
  consentRequired: Type.Boolean(),
  enabled: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  secretRotatedAt: Type.Union([Type.String(), Type.Null()]),
});

const Scope = Type.Union(OIDC_SCOPES.map((s) => Type.Literal(s)));
const fields = {
  name: Label(100),
  redirectUris: Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { minItems: 1, maxItems: 10 }),
  scopes: Type.Array(Scope, { minItems: 1, maxItems: 4 }),
  consentRequired: Type.Boolean(),
  enabled: Type.Boolean(),
};
const CreateBody = Type.Object(
  { ...fields, confidential: Type.Boolean({ description: 'true: a secret is issued (shown once); false: a public client, PKCE only.' }) },
  { additionalProperties: false, required: ['name', 'redirectUris', 'confidential'] },
);
const PatchBody = Type.Partial(Type.Object(fields, { additionalProperties: false }), { additionalProperties: false, minProperties: 1 });
const ClientParam = Type.Object({ clientId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) }, { additionalProperties: false });
const iso = (ms: number) => new Date(ms).toISOString();
const view = (c: OidcClient) => ({
  ...c,
  createdAt: iso(c.createdAt),
  updatedAt: iso(c.updatedAt),
  secretRotatedAt: c.secretRotatedAt === null ? null : iso(c.secretRotatedAt),
});

/**
 * The clients of Palisade's OpenID Provider (AUTH-13) under /api/admin/oidc/clients: administrators only (a
 * session, never an API key). A confidential client's secret is answered once, at creation and rotation.
 */
export const adminOidcClientRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['admin: OpenID provider'];
    const config = { auth: 'admin' as const };
    const write = { ...config, rateLimit: 'write' as const, recentAuth: true };
    const WithSecret = Type.Object({
      client: ClientSchema,
      clientSecret: Type.Union([Type.String(), Type.Null()], { description: 'The client secret, shown this once; null for a public client.' }),
      issuer: Type.String(),
    });

    app.get(
      '/oidc/clients',
      { config, schema: { tags, response: { 200: Type.Object({ clients: Type.Array(ClientSchema), issuer: Type.String() }), ...errorResponses } } },
      async () => ({ clients: (await s.oidcProvider.clients.list()).map(view), issuer: s.oidcProvider.issuer }),
    );

    app.post(
      '/oidc/clients',
      {
        config: write,
        schema: {
          tags,
          description: 'Registers a client (`oidc_provider.client_created`); its secret is answered this once.',
          body: CreateBody,
          response: { 201: WithSecret, ...errorResponses },
        },
      },
      async (req, reply) => {
        const { client, secret } = await s.oidcProvider.clients.create(req.body, actorContext(req));
        reply.code(201);
        return { client: view(client), clientSecret: secret, issuer: s.oidcProvider.issuer };
      },
    );

    app.get(
      '/oidc/clients/:clientId',
      { config, schema: { tags, params: ClientParam, response: { 200: Type.Object({ client: ClientSchema }), ...errorResponses } } },
      async (req) => {
        const c = await s.oidcProvider.clients.get(req.params.clientId);
        if (!c) throw new AppError('NOT_FOUND');
        return { client: view(c) };
      },
    );

    app.patch(
      '/oidc/clients/:clientId',
      {
        config: write,
        schema: {
          tags,
          description: 'Changes a client (`oidc_provider.client_updated`); disabling it, or changing its addresses or scopes, ends what it was issued.',
          params: ClientParam,
          body: PatchBody,
          response: { 200: Type.Object({ client: ClientSchema }), ...errorResponses },
        },
      },
      async (req) => ({ client: view(await s.oidcProvider.clients.update(req.params.clientId, req.body, actorContext(req))) }),
    );

    app.post(
      '/oidc/clients/:clientId/secret',
      {
        config: write,
        schema: {
          tags,
          description:
            "A new secret for a confidential client (`oidc_provider.client_secret_rotated`), answered this once; the old one and the client's tokens stop working.",
          params: ClientParam,
          response: { 200: Type.Object({ clientSecret: Type.String() }), ...errorResponses },
        },
      },
      async (req) => ({ clientSecret: await s.oidcProvider.clients.rotateSecret(req.params.clientId, actorContext(req)) }),
    );

    app.delete(
      '/oidc/clients/:clientId',
      {
        config: write,
        schema: {
          tags,
          description: 'Deletes a client with its secret and everything it was issued (`oidc_provider.client_deleted`).',
          params: ClientParam,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        if (!(await s.oidcProvider.clients.delete(req.params.clientId, actorContext(req)))) throw new AppError('NOT_FOUND');
        reply.code(204);
      },
    );
  };
