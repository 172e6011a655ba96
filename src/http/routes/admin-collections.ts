import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { FieldChange } from '../../collections/registry.js';
import { DATA_CLASSES, FIELD_TYPES, type CollectionDef, type DataClass, type FieldDef, type FieldType } from '../../collections/schema.js';
import { errorResponses } from '../schemas.js';
import { AppError } from '../../errors.js';
import { actorContext } from '../pipeline/authenticate.js';

const Name = Type.String({ minLength: 1, maxLength: 41, pattern: '^[a-z][a-z0-9_]*$' });
const Values = Type.Array(Type.String({ maxLength: 40 }), { maxItems: 100 });
const Classification = Type.Unsafe<DataClass>({
  type: 'string',
  enum: [...DATA_CLASSES],
  description:
    'The protection level (docs/data-protection.md): public and internal (the default) values reach the change log, revisions and exports; confidential ones never reach a log; secret ones reach no log, revision or export, and no query filters, sorts, searches or groups on them.',
});
const HiddenExcept = Type.Object({ exceptRoles: Type.Array(Type.String({ maxLength: 41 }), { minItems: 1, maxItems: 50 }) }, { additionalProperties: false });

export const FieldSchema = Type.Object(
  {
    name: Name,
    type: Type.Unsafe<FieldType>({ type: 'string', enum: [...FIELD_TYPES] }),
    required: Type.Optional(Type.Boolean()),
    unique: Type.Optional(Type.Boolean()),
    indexed: Type.Optional(Type.Boolean()),
    default: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Number(), Type.Boolean(), Type.Null()])),
    values: Type.Optional(Values),
    target: Type.Optional(Name),
    hidden: Type.Optional(Type.Union([Type.Boolean(), HiddenExcept])),
    block: Type.Optional(Name),
    sensitive: Type.Optional(
      Type.Boolean({
        description: 'Personal or secret: values never reach a log (the change log names the field only); the same as classification confidential.',
      }),
    ),
    classification: Type.Optional(Classification),
    multiple: Type.Optional(Type.Boolean({ description: 'file: several files instead of one.' })),
    accept: Type.Optional(
      Type.Array(Type.String({ maxLength: 100 }), { maxItems: 50, description: 'file: the MIME types accepted, recognised from the bytes (docs/files.md).' }),
    ),
    maxBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'file: the largest file, under FILES_MAX_BYTES.' })),
    maxFiles: Type.Optional(Type.Integer({ minimum: 1, description: 'file (multiple): the most current files.' })),
    maxPixels: Type.Optional(Type.Integer({ minimum: 1, description: 'file: the most pixels of an image, under FILES_MAX_PIXELS.' })),
    versions: Type.Optional(Type.Integer({ minimum: 0, description: 'file (single): how many replaced files are kept as versions.' })),
    keepMetadata: Type.Optional(
      Type.Boolean({
        description:
          'file: an upload may keep its metadata (EXIF, XMP, document authors) when the uploader asks with keepMetadata=true; otherwise it is removed.',
      }),
    ),
  },
  { additionalProperties: false },
);

const AuditOptionsSchema = Type.Object(
  {
    changeLog: Type.Optional(Type.Boolean({ description: 'Every create, change and delete with old and new values (default true).' })),
    accessLog: Type.Optional(
      Type.Union([Type.Literal('off'), Type.Literal('ids'), Type.Literal('filter')], {
        description: 'Reads: off (default), the ids returned, or the filter and count.',
      }),
    ),
    revisions: Type.Optional(Type.Boolean({ description: 'Keep the full previous version at each change (default false).' })),
  },
  { additionalProperties: false },
);

const Ownership = Type.Union([Type.Literal('creator'), Type.Literal('members'), Type.Literal('group'), Type.Null()]);
const BypassRoles = Type.Array(Type.String({ minLength: 1, maxLength: 41, pattern: '^[a-z][a-z0-9_-]*$' }), { maxItems: 50 });

export const CollectionSchema = Type.Object(
  {
    name: Name,
    fields: Type.Array(FieldSchema, { maxItems: 200 }),
    ownership: Type.Optional(Ownership),
    ownershipBypass: Type.Optional(BypassRoles),
    audit: Type.Optional(AuditOptionsSchema),
  },
  { additionalProperties: false },
);

const NameParam = Type.Object({ name: Name }, { additionalProperties: false });

/** Collection definitions under /api/admin/collections (the schema.manage permission). */
export const adminCollectionRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const config = { permission: 'schema.manage' as const, keys: true };
    const tags = ['admin: schema'];
    const One = Type.Object({ collection: CollectionSchema });

    app.get(
      '/collections',
      {
        config,
        schema: { tags, response: { 200: Type.Object({ collections: Type.Array(CollectionSchema) }), ...errorResponses } },
      },
      async () => ({ collections: await s.collections.list() }),
    );

    app.post(
      '/collections',
      {
        config,
        schema: {
          tags,
          description: 'Creates a collection and its table, in one transaction; audited as schema.changed.',
          body: CollectionSchema,
          response: { 201: One, ...errorResponses },
        },
      },
      async (req, reply) => {
        const c = await s.collections.create(req.body as CollectionDef, actorContext(req));
        reply.code(201);
        return { collection: c };
      },
    );

    app.get(
      '/collections/:name',
      {
        config,
        schema: { tags, params: NameParam, response: { 200: One, ...errorResponses } },
      },
      async (req) => {
        const c = await s.collections.get(req.params.name);
        if (!c) throw new AppError('NOT_FOUND');
        return { collection: c };
      },
    );

    app.patch(
      '/collections/:name',
      {
        // Ownership decides who sees which rows: changing it is an access change, for administrators only.
        config: { auth: 'admin' as const },
        schema: {
          tags,
          params: NameParam,
          description:
            'Changes the ownership mode (creator, members, group or null) and the roles that bypass it, and what the audit trail keeps (administrators only).',
          body: Type.Object(
            { ownership: Type.Optional(Ownership), ownershipBypass: Type.Optional(BypassRoles), audit: Type.Optional(AuditOptionsSchema) },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: One, ...errorResponses },
        },
      },
      async (req) => ({
        collection: await s.collections.setOptions(
          req.params.name,
          req.body as Pick<CollectionDef, 'ownership' | 'ownershipBypass' | 'audit'>,
          actorContext(req),
        ),
      }),
    );

    app.delete(
      '/collections/:name',
      {
        config,
        schema: { tags, params: NameParam, description: 'Deletes a collection, its table and its data.', response: { 204: Type.Null(), ...errorResponses } },
      },
      async (req, reply) => {
        await s.collections.drop(req.params.name, actorContext(req));
        reply.code(204);
      },
    );

    app.post(
      '/collections/:name/fields',
      {
        config,
        schema: { tags, params: NameParam, body: FieldSchema, response: { 201: One, ...errorResponses } },
      },
      async (req, reply) => {
        const c = await s.collections.addField(req.params.name, req.body as FieldDef, actorContext(req));
        reply.code(201);
        return { collection: c };
      },
    );

    app.patch(
      '/collections/:name/fields/:field',
      {
        config,
        schema: {
          tags,
          description:
            'Changes the options of a field that need no change to its column: required, default, values (enum and status: added, never removed), hidden, block, sensitive and classification; of a file field, accept, its limits and keepMetadata (files already stored stay). null clears an option. Audited as schema.changed (field.changed).',
          params: Type.Object({ name: Name, field: Name }, { additionalProperties: false }),
          body: Type.Object(
            {
              required: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
              default: FieldSchema.properties.default,
              values: Type.Optional(Type.Union([Values, Type.Null()])),
              hidden: Type.Optional(Type.Union([Type.Boolean(), HiddenExcept, Type.Null()])),
              block: Type.Optional(Type.Union([Name, Type.Null()])),
              sensitive: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
              classification: Type.Optional(Type.Union([Classification, Type.Null()])),
              accept: Type.Optional(Type.Union([FieldSchema.properties.accept, Type.Null()])),
              maxBytes: Type.Optional(Type.Union([FieldSchema.properties.maxBytes, Type.Null()])),
              maxFiles: Type.Optional(Type.Union([FieldSchema.properties.maxFiles, Type.Null()])),
              maxPixels: Type.Optional(Type.Union([FieldSchema.properties.maxPixels, Type.Null()])),
              versions: Type.Optional(Type.Union([FieldSchema.properties.versions, Type.Null()])),
              keepMetadata: Type.Optional(Type.Union([FieldSchema.properties.keepMetadata, Type.Null()])),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: One, ...errorResponses },
        },
      },
      async (req) => ({ collection: await s.collections.updateField(req.params.name, req.params.field, req.body as FieldChange, actorContext(req)) }),
    );

    app.delete(
      '/collections/:name/fields/:field',
      {
        config,
        schema: {
          tags,
          description: 'Removes a field and its data.',
          params: Type.Object({ name: Name, field: Name }, { additionalProperties: false }),
          response: { 200: One, ...errorResponses },
        },
      },
      async (req) => ({ collection: await s.collections.removeField(req.params.name, req.params.field, actorContext(req)) }),
    );
  };
