import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { CONFIG_LIMITS, type ConfigTransfer } from '../../config-transfer/index.js';
import { errorResponses } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';

const Names = Type.Array(Type.String());
const SectionSchema = Type.Object({
  inFile: Type.Boolean({ description: 'Whether the document has the section; a section it lacks is left as it is.' }),
  added: Names,
  changed: Type.Array(
    Type.Object({
      name: Type.String(),
      changes: Type.Array(Type.Object({ field: Type.String(), from: Type.Optional(Type.Unknown()), to: Type.Optional(Type.Unknown()) })),
    }),
  ),
  removed: Names,
  kept: Type.Array(Type.String(), { description: 'Here but not in the document, and left as they are (without prune; collections always).' }),
});
const DiffSchema = Type.Object({
  sections: Type.Object({
    collections: SectionSchema,
    roles: SectionSchema,
    departments: SectionSchema,
    grants: SectionSchema,
    settings: SectionSchema,
    ipRules: SectionSchema,
  }),
  missingSecrets: Type.Array(Type.String(), { description: 'Secrets the document refers to that are not set here; values are never imported.' }),
  total: Type.Integer(),
});

const Format = Type.Union([Type.Literal('json'), Type.Literal('yaml')]);

/**
 * Configuration as code (DATA-5) under /api/admin/config: administrators only (`auth: 'admin'`: a session,
 * never an API key). The export holds no secret value; an import shows its diff (dryRun) or applies it in
 * one transaction. The work is `config-transfer/`'s; these routes translate HTTP.
 */
export const adminConfigRoutes =
  (_s: Services, transfer: ConfigTransfer): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['admin: configuration'];

    app.get(
      '/config/export',
      {
        config: { auth: 'admin' as const, rateLimit: 'export' as const },
        schema: {
          tags,
          description:
            'The configuration document (version 1): collections, roles, departments, grants, every settings area, IP rules, and the secrets it refers to by name (never a value). Recorded as config.exported.',
          querystring: Type.Object({ format: Type.Optional(Format) }, { additionalProperties: false }),
        },
      },
      async (req, reply) => {
        const format = req.query.format ?? 'json';
        const text = await transfer.exportText(format, actorContext(req));
        reply.header('content-disposition', `attachment; filename="palisade-config.${format}"`);
        reply.type(format === 'yaml' ? 'application/yaml; charset=utf-8' : 'application/json; charset=utf-8');
        return reply.send(text);
      },
    );

    app.post(
      '/config/import',
      {
        config: { auth: 'admin' as const, recentAuth: true },
        schema: {
          tags,
          description:
            'Imports a configuration document given as text. dryRun: the diff only, nothing written. Otherwise every change and its events commit in one transaction with config.imported, or nothing does. prune: fields, roles, departments and IP rules the document lacks are removed (collections never). A result that would refuse the caller on the admin routes is SELF_LOCKOUT.',
          body: Type.Object(
            {
              document: Type.String({ minLength: 1, maxLength: CONFIG_LIMITS.chars, description: 'The document, JSON or YAML.' }),
              format: Type.Optional(Format),
              dryRun: Type.Optional(Type.Boolean()),
              prune: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ dryRun: Type.Boolean(), digest: Type.String(), diff: DiffSchema }), ...errorResponses },
        },
      },
      async (req) => {
        const b = req.body;
        return transfer.importText(
          b.document,
          b.format ?? 'json',
          { dryRun: b.dryRun ?? false, prune: b.prune ?? false, requesterIp: req.clientIp },
          actorContext(req),
        );
      },
    );
  };
