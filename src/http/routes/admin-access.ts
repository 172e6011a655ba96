import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../services.js';
import { ACTIONS, type Action } from '../../access/grants.js';
import type { FilterNode } from '../../records/filter.js';
import { errorResponses, IdParam } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';
import { AppError } from '../errors.js';

const RoleName = Type.String({ minLength: 1, maxLength: 41, pattern: '^[a-z][a-z0-9_-]*$' });
const GrantSchema = Type.Object({
  id: Type.String(), role: Type.String(), collection: Type.String(),
  actions: Type.Array(Type.String()), fields: Type.Array(Type.String()),
  statuses: Type.Union([Type.Array(Type.String()), Type.Null()]),
  scope: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

/** Roles, role assignments and grants (administrators). Changes apply at the next request on every instance. */
export const adminAccessRoutes = (s: Services): FastifyPluginAsync => async (plain) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const config = { auth: 'admin' as const };
  const tags = ['admin: access'];

  app.get('/roles', {
    config, schema: { tags, response: { 200: Type.Object({ roles: Type.Array(Type.Object({ name: Type.String(), description: Type.Union([Type.String(), Type.Null()]) })) }), ...errorResponses } },
  }, async () => ({ roles: await s.access.listRoles() }));

  app.post('/roles', {
    config,
    schema: { tags, body: Type.Object({ name: RoleName, description: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }), response: { 201: Type.Object({ name: Type.String() }), ...errorResponses } },
  }, async (req, reply) => {
    await s.access.createRole(req.body.name, req.body.description ?? null, actorContext(req));
    reply.code(201);
    return { name: req.body.name };
  });

  app.delete('/roles/:name', {
    config, schema: { tags, params: Type.Object({ name: RoleName }, { additionalProperties: false }), response: { 204: Type.Null(), ...errorResponses } },
  }, async (req, reply) => {
    await s.access.deleteRole(req.params.name, actorContext(req));
    reply.code(204);
  });

  app.put('/users/:id/roles', {
    config,
    schema: { tags, params: IdParam, description: 'Replaces the user\'s roles. Nobody changes their own roles.', body: Type.Object({ roles: Type.Array(RoleName, { maxItems: 50 }) }, { additionalProperties: false }), response: { 204: Type.Null(), ...errorResponses } },
  }, async (req, reply) => {
    await s.access.setUserRoles(req.params.id, req.body.roles, actorContext(req));
    reply.code(204);
  });

  app.get('/grants', {
    config,
    schema: { tags, querystring: Type.Object({ collection: Type.Optional(Type.String({ maxLength: 41 })) }, { additionalProperties: false }), response: { 200: Type.Object({ grants: Type.Array(GrantSchema) }), ...errorResponses } },
  }, async (req) => ({ grants: await s.access.listGrants(req.query.collection) }));

  app.post('/grants', {
    config,
    schema: {
      tags,
      description: 'Adds a grant: role, collection, actions, fields (names or block:<name>), optional statuses and a scope filter with $user.id, $user.roles, $now. Grants add up; no grant means no access.',
      body: Type.Object({
        role: RoleName,
        collection: Type.String({ maxLength: 41 }),
        actions: Type.Array(Type.Unsafe<Action>({ type: 'string', enum: [...ACTIONS] }), { minItems: 1, maxItems: 6 }),
        fields: Type.Array(Type.String({ maxLength: 60 }), { maxItems: 200 }),
        statuses: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 40 }), { maxItems: 100 }), Type.Null()])),
        scope: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
      }, { additionalProperties: false }),
      response: { 201: GrantSchema, ...errorResponses },
    },
  }, async (req, reply) => {
    const g = await s.access.addGrant({ ...req.body, scope: (req.body.scope ?? null) as FilterNode | null }, actorContext(req));
    reply.code(201);
    return g;
  });

  app.delete('/grants/:id', {
    config, schema: { tags, params: IdParam, response: { 204: Type.Null(), ...errorResponses } },
  }, async (req, reply) => {
    await s.access.deleteGrant(req.params.id, actorContext(req));
    reply.code(204);
  });
};

/** GET /api/access/explain (administrators). */
export const accessExplainRoutes = (s: Services): FastifyPluginAsync => async (plain) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const config = { auth: 'admin' as const };
  const tags = ['admin: access'];
  app.get('/explain', {
    config,
    schema: {
      tags,
      description: 'Which grants let a user see or change which fields of a record, action by action, and whether each holds for that record.',
      querystring: Type.Object({
        userId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
        collection: Type.String({ pattern: '^[a-z][a-z0-9_]{0,40}$' }),
        recordId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
      }, { additionalProperties: false }),
      response: { 200: Type.Record(Type.String(), Type.Unknown()), ...errorResponses },
    },
  }, async (req) => {
    const user = await s.users.get(req.query.userId);
    if (!user) throw new AppError('NOT_FOUND');
    return s.records.explain(user, await s.access.rolesOf(user.id), req.query.collection, req.query.recordId);
  });

};
