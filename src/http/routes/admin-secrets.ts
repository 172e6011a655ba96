import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { SecretView } from '../../secrets/index.js';
import { SECRET_NAME_MAX, SECRET_NAME_PATTERN, SECRET_VALUE_MAX } from '../../secrets/names.js';
import { AppError } from '../../errors.js';
import { errorResponses } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const Iso = Type.Union([Type.String(), Type.Null()]);
const ActorSchema = Type.Union([Type.Object({ id: Type.Union([Type.String(), Type.Null()]), name: Type.String() }), Type.Null()]);

/** A secret as anyone may see it: whether it is set, when and by whom; the schema has no place for a value. */
const SecretSchema = Type.Object(
  {
    name: Type.String(),
    set: Type.Boolean(),
    readable: Type.Union([Type.Boolean(), Type.Null()], { description: 'false: the current key does not open it (altered, or sealed under another key).' }),
    usedBy: Type.Union([Type.String(), Type.Null()], { description: 'The setting that refers to this name.' }),
    createdAt: Iso,
    createdBy: ActorSchema,
    updatedAt: Iso,
    updatedBy: ActorSchema,
  },
  { additionalProperties: false },
);

const view = (v: SecretView) => ({ ...v, createdAt: iso(v.createdAt), updatedAt: iso(v.updatedAt) });

const NameParam = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: SECRET_NAME_MAX, pattern: SECRET_NAME_PATTERN }) },
  { additionalProperties: false },
);
const SetBody = Type.Object(
  { value: Type.String({ minLength: 1, maxLength: SECRET_VALUE_MAX, description: 'The secret. Write-only: never returned by any route.' }) },
  { additionalProperties: false },
);

/**
 * The secret store (DATA-1) under /api/admin/secrets: administrators only (`auth: 'admin'`: a session, never
 * an API key). Write-only: no answer carries a value, only whether it is set, when and by whom.
 */
export const adminSecretRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['admin: secrets'];
    const config = { auth: 'admin' as const };
    const write = { ...config, recentAuth: true };

    app.get(
      '/secrets',
      {
        config,
        schema: {
          tags,
          description: 'Every secret: name, set or not, readable, the setting that uses it, created and updated at and by. Never a value.',
          querystring: Type.Object({}, { additionalProperties: false }),
          response: { 200: Type.Object({ secrets: Type.Array(SecretSchema), keyId: Type.String(), keySource: Type.String() }), ...errorResponses },
        },
      },
      async () => ({ secrets: (await s.secrets.list()).map(view), keyId: s.secrets.keyId, keySource: s.secrets.keySource }),
    );

    app.put(
      '/secrets/:name',
      {
        config: write,
        schema: {
          tags,
          description: 'Creates or replaces a secret (`secret.set`). The answer says it is set; the value is never returned.',
          params: NameParam,
          body: SetBody,
          response: { 200: Type.Object({ secret: SecretSchema, created: Type.Boolean() }), ...errorResponses },
        },
      },
      async (req) => {
        const { created } = await s.secrets.set(req.params.name, req.body.value, actorContext(req));
        const v = await s.secrets.view(req.params.name);
        return { secret: view(v!), created };
      },
    );

    app.delete(
      '/secrets/:name',
      {
        config: write,
        schema: {
          tags,
          description: 'Deletes a secret (`secret.deleted`). A setting that refers to it then fails closed until it is written again.',
          params: NameParam,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        if (!(await s.secrets.delete(req.params.name, actorContext(req)))) throw new AppError('NOT_FOUND');
        reply.code(204);
        return null;
      },
    );

    app.post(
      '/secrets/rotate-key',
      {
        config: write,
        schema: {
          tags,
          description:
            'A new data key; every secret re-encrypted under it in one transaction (`secrets.key_rotated`), then the key file replaced. A key from SECRETS_KEY or SECRETS_KEY_FILE is refused (SECRETS_KEY_EXTERNAL): use `palisade secrets rotate-key`.',
          response: { 200: Type.Object({ count: Type.Integer(), keyId: Type.String(), previousKeyId: Type.String() }), ...errorResponses },
        },
      },
      async (req) => {
        const r = await s.secrets.rotate(actorContext(req), 'refuse');
        return { count: r.count, keyId: r.keyId, previousKeyId: r.previousKeyId };
      },
    );
  };
