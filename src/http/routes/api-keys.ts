import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { ApiKeyView, KeyCreator } from '../../auth/api-keys/index.js';
import { IdParam, Label, errorResponses } from '../schemas.js';
import { actorContext, principalOf, requireSession } from '../pipeline/authenticate.js';
import { settingsRoutes } from './admin-security.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const Iso = Type.Union([Type.String(), Type.Null()]);

const KeySchema = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  name: Type.String(),
  hint: Type.String({ description: 'The last four characters of the key.' }),
  role: Type.String(),
  readOnly: Type.Boolean(),
  ipAllow: Type.Union([Type.Array(Type.String()), Type.Null()]),
  createdAt: Type.String(),
  expiresAt: Iso,
  lastUsedAt: Iso,
  lastUsedIp: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Iso,
  rotatedFrom: Type.Union([Type.String(), Type.Null()]),
});

const view = (k: ApiKeyView) => ({
  ...k,
  createdAt: new Date(k.createdAt).toISOString(),
  expiresAt: iso(k.expiresAt),
  lastUsedAt: iso(k.lastUsedAt),
  revokedAt: iso(k.revokedAt),
});

const NewKeyBody = Type.Object(
  {
    name: Label(100),
    role: Type.String({ minLength: 1, maxLength: 41 }),
    expiresIn: Type.Optional(
      Type.Union([Type.Integer({ minimum: 60, maximum: 5 * 365 * 86400 }), Type.Null()], {
        description: 'Seconds until it expires; absent: the maximum lifetime; null: never (only where allowNever is on).',
      }),
    ),
    readOnly: Type.Optional(Type.Boolean({ description: 'true: GET and HEAD only (an "anon" key); false: a "service" key.' })),
    ipAllow: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { maxItems: 20, description: 'Addresses or CIDR ranges it may be used from.' }),
    ),
  },
  { additionalProperties: false },
);
const Created = Type.Object({ key: KeySchema, secret: Type.String({ description: 'The key itself: shown this once, never again.' }) });
const RotateBody = Type.Object(
  {
    grace: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 30 * 86400, description: 'Seconds the old key keeps working; at most the rotationGrace setting.' }),
    ),
  },
  { additionalProperties: false },
);

/** Who is creating or rotating a key, as the key service needs it. */
async function creator(req: FastifyRequest, s: Services): Promise<KeyCreator> {
  const p = await principalOf(req, s);
  return { ctx: actorContext(req), userId: p.userId, held: p.held, manager: p.permissions.includes('apikeys.manage') };
}

/**
 * API keys (AUTH-11): a signed-in user's own keys under /api/auth/api-keys (a session only: a key never
 * manages keys), and every key under /api/admin/api-keys (apikeys.manage).
 */
export const apiKeyRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: api keys'];
    const config = { auth: 'session' as const };

    app.post(
      '',
      {
        config: { ...config, recentAuth: true },
        schema: {
          tags,
          description: 'Creates an API key bound to one role you hold. The answer carries the key once; only its hash is kept.',
          body: NewKeyBody,
          response: { 201: Created, ...errorResponses },
        },
      },
      async (req, reply) => {
        const { key, secret } = await s.apiKeys.create(requireSession(req).user.id, req.body, await creator(req, s));
        reply.code(201);
        return { key: view(key), secret };
      },
    );

    app.get('', { config, schema: { tags, response: { 200: Type.Object({ keys: Type.Array(KeySchema) }), ...errorResponses } } }, async (req) => ({
      keys: (await s.apiKeys.list(requireSession(req).user.id)).map(view),
    }));

    app.post(
      '/:id/rotate',
      {
        config: { ...config, recentAuth: true },
        schema: {
          tags,
          description: 'A new key with the same name, role and limits; the old one keeps working for the grace period.',
          params: IdParam,
          body: RotateBody,
          response: { 201: Created, ...errorResponses },
        },
      },
      async (req, reply) => {
        const { key, secret } = await s.apiKeys.rotate(req.params.id, requireSession(req).user.id, await creator(req, s), req.body.grace);
        reply.code(201);
        return { key: view(key), secret };
      },
    );

    app.delete('/:id', { config, schema: { tags, params: IdParam, response: { 204: Type.Null(), ...errorResponses } } }, async (req, reply) => {
      await s.apiKeys.revoke(req.params.id, requireSession(req).user.id, actorContext(req));
      reply.code(204);
    });
  };

/** Every user's keys (apikeys.manage), the settings (security.manage). */
export const adminApiKeyRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['admin: api keys'];
    const config = { permission: 'apikeys.manage' as const, auth: 'session' as const };
    settingsRoutes(plain, s, '/settings/api-keys', s.apiKeys.area, 'API keys and HTTP basic authentication; durations in seconds.', undefined, true);

    app.get(
      '/api-keys',
      {
        config,
        schema: {
          tags,
          description: 'All keys, newest first; `neverExpiring` lists the live keys without an expiry (each a warning).',
          querystring: Type.Object(
            {
              userId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 200 })),
              offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ keys: Type.Array(KeySchema), neverExpiring: Type.Array(KeySchema) }), ...errorResponses },
        },
      },
      async (req) => ({
        keys: (await s.apiKeys.list(req.query.userId ?? null, req.query.limit ?? 200, req.query.offset ?? 0)).map(view),
        neverExpiring: (await s.apiKeys.neverExpiring()).map(view),
      }),
    );

    app.delete(
      '/api-keys/:id',
      { config, schema: { tags, description: "Revokes any user's key at once.", params: IdParam, response: { 204: Type.Null(), ...errorResponses } } },
      async (req, reply) => {
        await s.apiKeys.revoke(req.params.id, null, actorContext(req));
        reply.code(204);
      },
    );
  };
