import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { ErasureRequest, PolicyInput } from '../../records/privacy.js';
import { OLDER_THAN_MAX, SCHEDULE_MAX, SCHEDULE_MIN } from '../../records/privacy-rules.js';
import { errorResponses } from '../schemas.js';
import { actorContext, principalOf } from '../pipeline/authenticate.js';

const tags = ['admin: privacy'];
const Name = Type.String({ minLength: 1, maxLength: 41, pattern: '^[a-z][a-z0-9_]*$' });
const FieldName = Type.String({ minLength: 1, maxLength: 41, pattern: '^([a-z][a-z0-9_]*|createdAt|updatedAt|createdBy)$' });
const Params = Type.Object({ name: Name }, { additionalProperties: false });
const IdParams = Type.Object({ name: Name, id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const Action = Type.Union([Type.Literal('delete'), Type.Literal('anonymise')]);

const AnonValue = Type.Union(
  [
    Type.Object({ kind: Type.Literal('null') }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal('fixed'), value: Type.Unknown() }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal('hash') }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal('fake') }, { additionalProperties: false }),
  ],
  {
    description:
      'null: empty (member lists: no members); fixed: one value for every record (never on a unique field); hash: a keyed HMAC-SHA256 of the value (equal values stay equal, unreadable); fake: a made-up value of the type.',
  },
);
const Values = Type.Record(Type.String({ pattern: '^([a-z][a-z0-9_]{0,40}|createdBy)$' }), AnonValue, { maxProperties: 200, additionalProperties: false });

const Rule = Type.Object(
  {
    filter: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { description: 'A records filter (no relation paths).' })),
    olderThan: Type.Optional(
      Type.Object({ field: FieldName, seconds: Type.Integer({ minimum: 60, maximum: OLDER_THAN_MAX }) }, { additionalProperties: false }),
    ),
    status: Type.Optional(
      Type.Object(
        { field: FieldName, in: Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { minItems: 1, maxItems: 100 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: 'Every condition named must hold; at least one.' },
);
const Schedule = Type.Object(
  {
    enabled: Type.Boolean(),
    every: Type.Optional(Type.Union([Type.Integer({ minimum: SCHEDULE_MIN, maximum: SCHEDULE_MAX }), Type.Null()], { description: 'Seconds between runs.' })),
  },
  { additionalProperties: false },
);
const policyFields = {
  name: Type.String({ minLength: 1, maxLength: 100 }),
  action: Action,
  rule: Rule,
  values: Type.Optional(Values),
  purgeHistory: Type.Optional(Type.Boolean({ description: 'Deletion: also erase the logged values and the revisions (anonymisation always does).' })),
  schedule: Type.Optional(Schedule),
};
const PolicyBody = Type.Object(policyFields, { additionalProperties: false });
const PolicyPatch = Type.Object(
  {
    name: Type.Optional(policyFields.name),
    action: Type.Optional(Action),
    rule: Type.Optional(Rule),
    values: Type.Optional(Values),
    purgeHistory: Type.Optional(Type.Boolean()),
    schedule: Type.Optional(Schedule),
  },
  { additionalProperties: false, minProperties: 1 },
);
const Iso = Type.Union([Type.String(), Type.Null()]);
const Policy = Type.Object({
  id: Type.String(),
  collection: Type.String(),
  name: Type.String(),
  action: Type.String(),
  rule: Rule,
  values: Values,
  purgeHistory: Type.Boolean(),
  schedule: Type.Object({ enabled: Type.Boolean(), every: Type.Union([Type.Integer(), Type.Null()]) }),
  nextRunAt: Iso,
  lastRunAt: Iso,
  lastResult: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
const Result = Type.Object({
  matched: Type.Integer(),
  changed: Type.Integer(),
  ids: Type.Array(Type.String(), { description: 'The first 100 ids matched (a dry run) or changed.' }),
  remaining: Type.Boolean({ description: 'More records matched than one run handles (10000); run again.' }),
});
const Erasure = Type.Object(
  {
    collection: Name,
    by: Type.Union([
      Type.Object({ userId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
      Type.Object(
        { field: FieldName, value: Type.Union([Type.String({ minLength: 1, maxLength: 1000 }), Type.Number(), Type.Boolean()]) },
        { additionalProperties: false },
      ),
    ]),
    action: Action,
    values: Type.Optional(Values),
    dryRun: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/**
 * GDPR policies (AUDIT-5): their definitions under /api/admin/collections/:name/privacy-policies
 * (schema.manage); running one, and erasure requests, change data below the grants (security.manage).
 * Sessions only: no API key defines or runs them.
 */
export const adminPrivacyRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const define = { permission: 'schema.manage' as const };
    const run = { permission: 'security.manage' as const };
    const base = '/collections/:name/privacy-policies';
    const mayRun = async (req: FastifyRequest) => (await principalOf(req, s)).permissions.includes(run.permission);

    app.get(
      base,
      { config: define, schema: { tags, params: Params, response: { 200: Type.Object({ policies: Type.Array(Policy) }), ...errorResponses } } },
      async (req) => ({ policies: await s.privacy.list(req.params.name) }),
    );

    app.post(
      base,
      {
        config: define,
        schema: {
          tags,
          description: 'Defines a deletion or anonymisation policy; every field and value is checked against the collection (PRIVACY_POLICY_INVALID).',
          params: Params,
          body: PolicyBody,
          response: { 201: Type.Object({ policy: Policy }), ...errorResponses },
        },
      },
      async (req, reply) => {
        reply.code(201);
        return { policy: await s.privacy.create(req.params.name, req.body as PolicyInput, actorContext(req), await mayRun(req)) };
      },
    );

    app.get(
      `${base}/:id`,
      { config: define, schema: { tags, params: IdParams, response: { 200: Type.Object({ policy: Policy }), ...errorResponses } } },
      async (req) => ({ policy: await s.privacy.get(req.params.name, req.params.id) }),
    );

    app.patch(
      `${base}/:id`,
      {
        config: define,
        schema: { tags, params: IdParams, body: PolicyPatch, response: { 200: Type.Object({ policy: Policy }), ...errorResponses } },
      },
      async (req) => ({
        policy: await s.privacy.update(req.params.name, req.params.id, req.body as Partial<PolicyInput>, actorContext(req), await mayRun(req)),
      }),
    );

    app.delete(`${base}/:id`, { config: define, schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errorResponses } } }, async (req, reply) => {
      await s.privacy.remove(req.params.name, req.params.id, actorContext(req));
      reply.code(204);
    });

    app.post(
      `${base}/:id/run`,
      {
        config: { ...run, rateLimit: 'export' as const },
        schema: {
          tags,
          description:
            'Runs the policy now. A dry run changes nothing and answers what would change (recorded as record.bypass); a run is recorded as a system entry `policy`.',
          params: IdParams,
          body: Type.Optional(Type.Object({ dryRun: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
          response: { 200: Result, ...errorResponses },
        },
      },
      async (req) =>
        s.privacy.run(req.params.name, req.params.id, { dryRun: (req.body as { dryRun?: boolean } | undefined)?.dryRun === true }, actorContext(req)),
    );

    app.post(
      '/privacy/erasure',
      {
        config: { ...run, rateLimit: 'export' as const, recentAuth: true },
        schema: {
          tags,
          description:
            "A data subject's erasure: the records the user created or is linked to (user fields, member lists), or whose field holds the value, deleted or anonymised with their history erased. Recorded as a system entry `erase` holding a keyed hash of the subject, never the value.",
          body: Erasure,
          response: { 200: Result, ...errorResponses },
        },
      },
      async (req) => s.privacy.erase(req.body as ErasureRequest, actorContext(req)),
    );
  };
