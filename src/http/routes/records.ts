import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { RouteServices as Services } from '../../services.js';
import type { Caller } from '../../records/service.js';
import { AppError } from '../../errors.js';
import { errorResponses } from '../schemas.js';
import { actorContext, principalOf, requireAuth } from '../pipeline/authenticate.js';
import { neutralise } from '../csv.js';

const Params = Type.Object({ collection: Type.String({ pattern: '^[a-z][a-z0-9_]{0,40}$' }) }, { additionalProperties: false });
const IdParams = Type.Object(
  {
    collection: Type.String({ pattern: '^[a-z][a-z0-9_]{0,40}$' }),
    id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  },
  { additionalProperties: false },
);
const Record_ = Type.Record(Type.String(), Type.Unknown());
const Expand = Type.String({ maxLength: 300, pattern: '^[a-z0-9_,:]*$' });

function parseFilter(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new AppError('FILTER_INVALID', { message: 'filter is not JSON' });
  }
}

/** The records API. Routes only translate HTTP; every decision is the records service's. */
export const recordRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['records'];

    const caller = async (req: FastifyRequest): Promise<Caller> => {
      const auth = requireAuth(req);
      const p = await principalOf(req, s);
      return { user: auth.user, admin: p.admin, roles: p.roles, departments: p.departments, ctx: actorContext(req), stamp: p.stamp };
    };

    const Field = Type.Object({
      name: Type.String(),
      type: Type.String(),
      required: Type.Boolean(),
      unique: Type.Boolean(),
      values: Type.Optional(Type.Array(Type.String())),
      target: Type.Optional(Type.String()),
      file: Type.Optional(
        Type.Object(
          {
            multiple: Type.Boolean(),
            accept: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'null: every known type but text/plain.' }),
            maxBytes: Type.Union([Type.Integer(), Type.Null()], { description: 'null: FILES_MAX_BYTES.' }),
            maxFiles: Type.Union([Type.Integer(), Type.Null()]),
            maxPixels: Type.Union([Type.Integer(), Type.Null()], { description: 'null: FILES_MAX_PIXELS.' }),
            versions: Type.Integer({ description: 'Replaced files kept as versions (single-file fields).' }),
            keepMetadata: Type.Boolean({ description: 'An upload may keep its metadata when it asks (keepMetadata=true); otherwise the metadata is removed.' }),
          },
          { description: "A file field's upload rules (DATA-3)." },
        ),
      ),
      classification: Type.String({
        description: 'public, internal, confidential or secret (docs/data-protection.md): a client masks a secret value until asked.',
      }),
      read: Type.Boolean(),
      filter: Type.Boolean(),
      create: Type.Boolean(),
      update: Type.Boolean(),
    });
    app.get(
      '/',
      {
        schema: {
          tags,
          description:
            "The collections the caller's grants name (every one for an administrator's session; an API key gets what its role gets), each with the actions granted and the fields the caller knows: `read` (on some record they see), `filter` (readable on every record they see: may be filtered and sorted on), `create`, `update`. A collection without a grant is absent.",
          response: {
            200: Type.Object({
              collections: Type.Array(Type.Object({ name: Type.String(), actions: Type.Array(Type.String()), fields: Type.Array(Field) })),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        return { collections: await s.records.catalogue(await caller(req)) };
      },
    );

    app.get(
      '/:collection/records',
      {
        schema: {
          tags,
          params: Params,
          description:
            "Lists the records the caller may see: the row scope of their grants is part of the SQL, and each row carries only the fields granted for it. `filter` is JSON ($eq $ne $gt $gte $lt $lte $in $nin $like $ilike $null $and $or $not; `relation.field` paths reach related records the caller may see); `sort` is comma-separated, `-` for descending; `fields` names exactly the fields each row shows (`id` is always shown; without `fields`, every readable field and the system fields); `expand` names relation fields and `collection:field` reverse relations, placed under each row's `expand`. `hasMore` says whether a next page has records; `total=true` also counts the records (counted up to 10,000), which costs more than the page.",
          querystring: Type.Object(
            {
              filter: Type.Optional(Type.String({ maxLength: 4096 })),
              sort: Type.Optional(Type.String({ maxLength: 300 })),
              fields: Type.Optional(Type.String({ maxLength: 2000 })),
              expand: Type.Optional(Expand),
              search: Type.Optional(
                Type.String({ minLength: 1, maxLength: 200, description: 'Case-insensitive text over the text fields the caller may filter on.' }),
              ),
              page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 1 })),
              perPage: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
              total: Type.Optional(Type.Boolean({ description: 'Also count the matching records (`total`, `totalCapped`); without it no count runs.' })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              items: Type.Array(Record_),
              total: Type.Optional(
                Type.Integer({
                  description:
                    'Only with `total=true`: the records the caller may see that match, counted up to 10,000; past that, 10000 with totalCapped true.',
                }),
              ),
              totalCapped: Type.Optional(Type.Boolean()),
              hasMore: Type.Boolean({ description: 'Whether the next page has records.' }),
              page: Type.Integer(),
              perPage: Type.Integer(),
              expandTruncated: Type.Optional(Type.Array(Type.String())),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const filter = parseFilter(req.query.filter);
        return s.records.list(await caller(req), req.params.collection, {
          filter,
          sort: req.query.sort,
          fields: req.query.fields,
          expand: req.query.expand,
          search: req.query.search,
          page: req.query.page ?? 1,
          perPage: req.query.perPage ?? 50,
          total: req.query.total === true,
        });
      },
    );

    app.get(
      '/:collection/records/aggregate',
      {
        schema: {
          tags,
          params: Params,
          description:
            'count, sum, avg, min and max over the records the caller may view, grouped by up to three fields (at most 1000 groups). Grouped and measured fields must be readable on every row the caller can see (FIELD_NOT_FILTERABLE otherwise).',
          querystring: Type.Object(
            {
              metrics: Type.String({ minLength: 1, maxLength: 500, description: 'Comma-separated: count, sum:field, avg:field, min:field, max:field.' }),
              groupBy: Type.Optional(Type.String({ maxLength: 200 })),
              filter: Type.Optional(Type.String({ maxLength: 4096 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ groups: Type.Array(Record_) }), ...errorResponses },
        },
      },
      async (req) =>
        s.records.aggregate(await caller(req), req.params.collection, {
          filter: parseFilter(req.query.filter),
          groupBy: req.query.groupBy,
          metrics: req.query.metrics,
        }),
    );

    app.get(
      '/:collection/records/export',
      {
        config: { rateLimit: 'export' },
        schema: {
          tags,
          params: Params,
          description:
            'Streams the records the caller may export (export grants: scope, statuses and fields apply as for a list) as CSV or JSON. CSV cells that a spreadsheet would run as a formula are prefixed with a quote.',
          querystring: Type.Object(
            {
              format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('json')])),
              filter: Type.Optional(Type.String({ maxLength: 4096 })),
              sort: Type.Optional(Type.String({ maxLength: 300 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (req, reply) => {
        const c = await caller(req);
        const filter = parseFilter(req.query.filter);
        const gen = s.records.exportRecords(c, req.params.collection, { filter, sort: req.query.sort });
        // Pull the header first, so that refusals (403, 400) are answered before streaming starts.
        const first = await gen.next();
        const header = (first.value ?? []) as string[];
        const format = req.query.format ?? 'json';
        reply.header('content-disposition', `attachment; filename="${req.params.collection}.${format}"`);
        if (format === 'csv') {
          reply.type('text/csv; charset=utf-8');
          const out = stringify({ header: true, columns: header, cast: { boolean: (v) => String(v), object: (v) => JSON.stringify(v) } });
          void (async () => {
            try {
              for await (const rec of gen) out.write(Object.fromEntries(header.map((h) => [h, neutralise((rec as Record<string, unknown>)[h])])));
              out.end();
            } catch (e) {
              out.destroy(e as Error);
            }
          })();
          return reply.send(out);
        }
        reply.type('application/json; charset=utf-8');
        const body = Readable.from(
          (async function* () {
            yield '[';
            let n = 0;
            for await (const rec of gen) yield (n++ === 0 ? '' : ',') + JSON.stringify(rec);
            yield ']';
          })(),
        );
        return reply.send(body);
      },
    );

    const Filter = Type.Record(Type.String(), Type.Unknown());
    app.post(
      '/:collection/records/bulk-delete',
      {
        schema: {
          tags,
          params: Params,
          description:
            "Deletes every record in the caller's delete scope that matches the filter (at most 10000), all or nothing. The filter is required; {} means every record in scope.",
          body: Type.Object({ filter: Filter }, { additionalProperties: false }),
          response: { 200: Type.Object({ deleted: Type.Integer() }), ...errorResponses },
        },
      },
      async (req) => ({ deleted: await s.records.bulkDelete(await caller(req), req.params.collection, req.body.filter) }),
    );

    app.post(
      '/:collection/records/bulk-update',
      {
        schema: {
          tags,
          params: Params,
          description:
            "Sets fields on every record in the caller's update scope that matches the filter (at most 10000). Refused whole if a field is not writable or a record would leave the caller's grants.",
          body: Type.Object({ filter: Filter, set: Type.Record(Type.String(), Type.Unknown()) }, { additionalProperties: false }),
          response: { 200: Type.Object({ updated: Type.Integer() }), ...errorResponses },
        },
      },
      async (req) => ({ updated: await s.records.bulkUpdate(await caller(req), req.params.collection, req.body.filter, req.body.set) }),
    );

    app.post(
      '/:collection/records/import',
      {
        config: { rateLimit: 'upload' },
        schema: {
          tags,
          params: Params,
          description:
            "Imports records under the caller's import grants, all or nothing: `records` (JSON objects) or `csv` (text with a header row). A refused import answers IMPORT_REJECTED with every failed row.",
          body: Type.Object(
            {
              records: Type.Optional(Type.Array(Record_, { maxItems: 10000 })),
              csv: Type.Optional(Type.String({ maxLength: 10_000_000 })),
            },
            { additionalProperties: false, minProperties: 1, maxProperties: 1 },
          ),
          response: { 200: Type.Object({ imported: Type.Integer() }), ...errorResponses },
        },
      },
      async (req) => {
        const c = await caller(req);
        return req.body.csv !== undefined
          ? s.records.importCsv(c, req.params.collection, req.body.csv)
          : s.records.importRecords(c, req.params.collection, req.body.records ?? []);
      },
    );

    app.post(
      '/:collection/records',
      {
        schema: { tags, params: Params, body: Record_, response: { 201: Record_, ...errorResponses } },
      },
      async (req, reply) => {
        const r = await s.records.create(await caller(req), req.params.collection, req.body);
        reply.code(201);
        return r;
      },
    );

    app.get(
      '/:collection/records/:id',
      {
        schema: {
          tags,
          params: IdParams,
          description: "A record outside the caller's scope answers 404. `expand` as for a list.",
          querystring: Type.Object({ expand: Type.Optional(Expand) }, { additionalProperties: false }),
          response: { 200: Record_, ...errorResponses },
        },
      },
      async (req) => s.records.get(await caller(req), req.params.collection, req.params.id, req.query.expand),
    );

    app.patch(
      '/:collection/records/:id',
      {
        schema: { tags, params: IdParams, body: Record_, response: { 200: Record_, ...errorResponses } },
      },
      async (req) => s.records.update(await caller(req), req.params.collection, req.params.id, req.body),
    );

    app.delete(
      '/:collection/records/:id',
      {
        schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (req, reply) => {
        await s.records.remove(await caller(req), req.params.collection, req.params.id);
        reply.code(204);
      },
    );

    // Revisions (AUDIT-4) and status times (AUDIT-3): read through the caller's view plan like the record.
    const RevParams = Type.Object(
      { ...IdParams.properties, rev: Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'The revision number (1 is the oldest).' }) },
      { additionalProperties: false },
    );
    const Actor = Type.Object({ id: Type.Union([Type.String(), Type.Null()]), name: Type.Union([Type.String(), Type.Null()]) });
    // A version the caller's grants show none of is its number and `hidden` only (docs/audit.md).
    const Summary = {
      rev: Type.Integer(),
      hidden: Type.Optional(Type.Literal(true, { description: 'The caller may see none of this version: no time, operation or actor is given.' })),
      at: Type.Optional(Type.String({ description: 'When the change that replaced this version was made (absent when hidden).' })),
      operation: Type.Optional(Type.String({ description: 'That change (absent when hidden).' })),
      actor: Type.Optional(Actor),
    };
    const Against = Type.Union([Type.Integer(), Type.Literal('current')]);
    app.get(
      '/:collection/records/:id/revisions',
      {
        schema: {
          tags,
          params: IdParams,
          description:
            "The record's kept revisions, newest first (only where the collection has `audit.revisions`): revision N is the version the change at `at` by `actor` replaced. A version in which the caller may see no field (their grants did not hold on it) is listed as `{rev, hidden: true}` only. A record the caller cannot view answers 404. Page with `beforeRev` = `next`.",
          querystring: Type.Object(
            {
              beforeRev: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              revisions: Type.Array(Type.Object(Summary)),
              next: Type.Union([Type.Integer(), Type.Null()]),
              kept: Type.Boolean({ description: 'Whether the collection keeps revisions now.' }),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) =>
        s.records.revisions(await caller(req), req.params.collection, req.params.id, { beforeRev: req.query.beforeRev, limit: req.query.limit ?? 50 }),
    );

    app.get(
      '/:collection/records/:id/revisions/:rev',
      {
        schema: {
          tags,
          params: RevParams,
          description:
            'One stored version, shown like a read of the record: only the fields the caller reads on the record now and would have read on that version (grant scopes and statuses evaluated on its values). Backend-only fields never show. A version showing the caller no field is `{rev, hidden: true, record: {id}}`.',
          response: { 200: Type.Object({ ...Summary, record: Record_ }), ...errorResponses },
        },
      },
      async (req) => s.records.revision(await caller(req), req.params.collection, req.params.id, req.params.rev),
    );

    app.get(
      '/:collection/records/:id/revisions/:rev/diff',
      {
        schema: {
          tags,
          params: RevParams,
          description:
            'Field by field, what differs from revision `rev` (`from`) to `against` (`to`): another revision or `current` (the default). Only fields the caller may see on both versions are compared.',
          querystring: Type.Object(
            {
              against: Type.Optional(
                Type.String({ pattern: '^(current|[1-9][0-9]{0,9})$', default: 'current', description: 'A revision number or `current`.' }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              rev: Type.Integer(),
              against: Against,
              changes: Type.Array(Type.Object({ field: Type.String(), from: Type.Unknown(), to: Type.Unknown() })),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const a = req.query.against ?? 'current';
        const against = a === 'current' ? a : Number(a);
        if (against !== 'current' && against > 2_147_483_647)
          throw new AppError('VALIDATION_FAILED', [{ path: '/against', message: 'no such revision number' }]);
        return s.records.revisionDiff(await caller(req), req.params.collection, req.params.id, req.params.rev, against);
      },
    );

    app.post(
      '/:collection/records/:id/revisions/:rev/restore',
      {
        schema: {
          tags,
          params: RevParams,
          description:
            "Restores a revision through the normal update (checked against the caller's update grants, logged as operation `restore`, itself a new revision). Only fields the caller sees in the revision are restored; `fields` names some of them (a field they may not write is FIELD_NOT_WRITABLE); without it, fields they may not write are left as they are and listed in `skipped`. System fields are never restored; a deleted record answers 404.",
          body: Type.Optional(
            Type.Object(
              { fields: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 200, uniqueItems: true })) },
              { additionalProperties: false },
            ),
          ),
          response: {
            200: Type.Object({ record: Record_, restored: Type.Array(Type.String()), skipped: Type.Array(Type.String()) }),
            ...errorResponses,
          },
        },
      },
      async (req) => s.records.restoreRevision(await caller(req), req.params.collection, req.params.id, req.params.rev, req.body?.fields),
    );

    app.get(
      '/:collection/records/:id/status-times',
      {
        schema: {
          tags,
          params: IdParams,
          description:
            'For each status field the caller reads on the record: its transitions (from the audit log) and the milliseconds spent in each status, the current one counted until `at` (now). A record the caller cannot view answers 404. Only for status fields the caller reads whatever values the record held (administrators, view grants without scope or with a scope on the id, `createdAt` or `createdBy` only, creator ownership): under a status list, a scope on another field or group or members ownership, 403 FORBIDDEN.',
          querystring: Type.Object({ field: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{0,40}$' })) }, { additionalProperties: false }),
          response: {
            200: Type.Object({
              at: Type.String(),
              truncated: Type.Optional(Type.Boolean({ description: 'More than 10,000 transitions: the first 10,000 are counted.' })),
              fields: Type.Array(
                Type.Object({
                  field: Type.String(),
                  current: Type.Unknown(),
                  transitions: Type.Array(Type.Object({ from: Type.Unknown(), to: Type.Unknown(), at: Type.String(), actor: Actor })),
                  totals: Type.Record(Type.String(), Type.Integer()),
                }),
              ),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => s.records.statusTimes(await caller(req), req.params.collection, req.params.id, req.query.field),
    );
  };
