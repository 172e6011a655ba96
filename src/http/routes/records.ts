import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../services.js';
import type { Caller } from '../../records/service.js';
import { AppError } from '../errors.js';
import { errorResponses } from '../schemas.js';
import { actorContext, requireAuth } from '../pipeline/authenticate.js';

const Params = Type.Object({ collection: Type.String({ pattern: '^[a-z][a-z0-9_]{0,40}$' }) }, { additionalProperties: false });
const IdParams = Type.Object({
  collection: Type.String({ pattern: '^[a-z][a-z0-9_]{0,40}$' }),
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
}, { additionalProperties: false });
const Record_ = Type.Record(Type.String(), Type.Unknown());

/** The records API. Routes only translate HTTP; every decision is the records service's. */
export const recordRoutes = (s: Services): FastifyPluginAsync => async (plain) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['records'];

  const caller = async (req: FastifyRequest): Promise<Caller> => {
    const auth = requireAuth(req);
    return { user: auth.user, roles: await s.access.rolesOf(auth.user.id), ctx: actorContext(req) };
  };

  app.get('/:collection/records', {
    schema: {
      tags, params: Params,
      description: 'Lists the records the caller may see: the row scope of their grants is part of the SQL, and each row carries only the fields granted for it. `filter` is JSON ($eq $ne $gt $gte $lt $lte $in $nin $like $ilike $null $and $or $not); `sort` is comma-separated, `-` for descending.',
      querystring: Type.Object({
        filter: Type.Optional(Type.String({ maxLength: 4096 })),
        sort: Type.Optional(Type.String({ maxLength: 300 })),
        fields: Type.Optional(Type.String({ maxLength: 2000 })),
        page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 1 })),
        perPage: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(Record_), total: Type.Integer(), page: Type.Integer(), perPage: Type.Integer() }), ...errorResponses },
    },
  }, async (req) => {
    let filter: unknown;
    if (req.query.filter !== undefined) {
      try {
        filter = JSON.parse(req.query.filter);
      } catch {
        throw new AppError('FILTER_INVALID', { message: 'filter is not JSON' });
      }
    }
    return s.records.list(await caller(req), req.params.collection, {
      filter, sort: req.query.sort, fields: req.query.fields, page: req.query.page ?? 1, perPage: req.query.perPage ?? 50,
    });
  });

  app.post('/:collection/records', {
    schema: { tags, params: Params, body: Record_, response: { 201: Record_, ...errorResponses } },
  }, async (req, reply) => {
    const r = await s.records.create(await caller(req), req.params.collection, req.body);
    reply.code(201);
    return r;
  });

  app.get('/:collection/records/:id', {
    schema: { tags, params: IdParams, description: 'A record outside the caller\'s scope answers 404.', response: { 200: Record_, ...errorResponses } },
  }, async (req) => s.records.get(await caller(req), req.params.collection, req.params.id));

  app.patch('/:collection/records/:id', {
    schema: { tags, params: IdParams, body: Record_, response: { 200: Record_, ...errorResponses } },
  }, async (req) => s.records.update(await caller(req), req.params.collection, req.params.id, req.body));

  app.delete('/:collection/records/:id', {
    schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (req, reply) => {
    await s.records.remove(await caller(req), req.params.collection, req.params.id);
    reply.code(204);
  });
};
