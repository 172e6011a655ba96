import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { RouteServices as Services } from '../../services.js';
import { AUDIT_KINDS, AUDIT_OPERATIONS, type AuditFilter } from '../../audit/trail.js';
import { errorResponses } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';
import { neutralise } from '../csv.js';

const tags = ['admin: audit'];
const Filter = {
  kind: Type.Optional(Type.Union(AUDIT_KINDS.map((k) => Type.Literal(k)))),
  collection: Type.Optional(Type.String({ maxLength: 41, pattern: '^[a-z][a-z0-9_]*$' })),
  recordId: Type.Optional(Type.String({ maxLength: 64 })),
  actorId: Type.Optional(Type.String({ maxLength: 64 })),
  operation: Type.Optional(Type.Union(AUDIT_OPERATIONS.map((o) => Type.Literal(o)))),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  until: Type.Optional(Type.String({ format: 'date-time' })),
};
type FilterQuery = { [K in keyof typeof Filter]?: string };

const EntrySchema = Type.Object({
  seq: Type.Integer(),
  at: Type.String(),
  kind: Type.String(),
  collection: Type.Union([Type.String(), Type.Null()]),
  recordId: Type.Union([Type.String(), Type.Null()]),
  operation: Type.String(),
  actor: Type.Object({ id: Type.Union([Type.String(), Type.Null()]), name: Type.Union([Type.String(), Type.Null()]), via: Type.Optional(Type.Unknown()) }),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.Union([Type.String(), Type.Null()]),
  changes: Type.Optional(
    Type.Array(
      Type.Object({ field: Type.String(), old: Type.Optional(Type.Unknown()), new: Type.Optional(Type.Unknown()), secret: Type.Optional(Type.Literal(true)) }),
    ),
  ),
  erased: Type.Optional(Type.Literal(true)),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

const CheckpointSchema = Type.Object({ seq: Type.Integer(), hash: Type.String(), at: Type.Integer(), signature: Type.String() });
const ProblemSchema = Type.Union([Type.Object({ seq: Type.Integer(), problem: Type.String(), detail: Type.String() }), Type.Null()]);

function filterOf(q: FilterQuery): Omit<AuditFilter, 'limit'> {
  return {
    kind: q.kind as AuditFilter['kind'],
    collection: q.collection,
    recordId: q.recordId,
    actorId: q.actorId,
    operation: q.operation as AuditFilter['operation'],
    since: q.since ? Date.parse(q.since) : undefined,
    until: q.until ? Date.parse(q.until) : undefined,
  };
}

const CSV_COLUMNS = ['seq', 'at', 'kind', 'collection', 'recordId', 'operation', 'actorId', 'actorName', 'ip', 'userAgent', 'requestId', 'changes', 'data'];

/** The record audit log, its verification and checkpoints under /api/admin/audit (audit.read; checkpoints: security.manage). */
export const adminAuditRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const read = { permission: 'audit.read' as const, keys: true };

    app.get(
      '/audit',
      {
        config: read,
        schema: {
          tags,
          description:
            'The record audit log (change, status, access and system entries), newest first. Page with beforeSeq = the last seq of the previous page. Values of hidden and sensitive fields are never logged; an erased record shows `erased`. The read is itself recorded (audit.read).',
          querystring: Type.Object(
            {
              ...Filter,
              beforeSeq: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ entries: Type.Array(EntrySchema), next: Type.Union([Type.Integer(), Type.Null()]) }), ...errorResponses },
        },
      },
      async (req) => {
        const limit = req.query.limit ?? 100;
        const entries = await s.audit.list(actorContext(req), { ...filterOf(req.query), beforeSeq: req.query.beforeSeq, limit });
        return { entries, next: entries.length === limit ? entries[entries.length - 1]!.seq : null };
      },
    );

    app.get(
      '/audit/export',
      {
        config: { ...read, rateLimit: 'export' as const },
        schema: {
          tags,
          description: 'Every entry matching the filter, newest first, as JSON Lines (default) or CSV. Recorded as audit.read.',
          querystring: Type.Object(
            { ...Filter, format: Type.Optional(Type.Union([Type.Literal('jsonl'), Type.Literal('csv')])) },
            { additionalProperties: false },
          ),
        },
      },
      async (req, reply) => {
        const format = req.query.format ?? 'jsonl';
        const gen = s.audit.entries(actorContext(req), filterOf(req.query), format);
        reply.header('content-disposition', `attachment; filename="audit.${format}"`);
        if (format === 'csv') {
          reply.type('text/csv; charset=utf-8');
          const out = stringify({ header: true, columns: CSV_COLUMNS });
          void (async () => {
            try {
              for await (const e of gen) {
                const row: Record<string, unknown> = {
                  ...e,
                  actorId: e.actor.id,
                  actorName: e.actor.name,
                  changes: e.changes ? JSON.stringify(e.changes) : '',
                  data: e.data ? JSON.stringify(e.data) : '',
                };
                out.write(Object.fromEntries(CSV_COLUMNS.map((c) => [c, neutralise(row[c] ?? '')])));
              }
              out.end();
            } catch (err) {
              out.destroy(err as Error);
            }
          })();
          return reply.send(out);
        }
        reply.type('application/x-ndjson; charset=utf-8');
        return reply.send(
          Readable.from(
            (async function* () {
              for await (const e of gen) yield `${JSON.stringify(e)}\n`;
            })(),
          ),
        );
      },
    );

    app.post(
      '/audit/verify',
      {
        config: { ...read, rateLimit: 'export' as const },
        schema: {
          tags,
          description:
            'Walks the whole audit chain (security events and the record audit log) and names the first entry that was altered, removed, added or reordered. Optional `checkpoints`: exported checkpoints to check too. Recorded as audit.verified.',
          body: Type.Optional(Type.Object({ checkpoints: Type.Optional(Type.Array(CheckpointSchema, { maxItems: 10000 })) }, { additionalProperties: false })),
          response: {
            200: Type.Object({
              ok: Type.Boolean(),
              entries: Type.Integer(),
              checked: Type.Integer(),
              pruned: Type.Integer(),
              unchained: Type.Integer(),
              checkpoints: Type.Integer(),
              problem: ProblemSchema,
              ms: Type.Integer(),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => s.audit.verify(actorContext(req), (req.body as { checkpoints?: [] } | undefined)?.checkpoints ?? []),
    );

    app.get(
      '/audit/checkpoints',
      {
        config: read,
        schema: {
          tags,
          description: 'Signed checkpoints of the chain, newest first, and the Ed25519 public key that checks them (SPKI PEM).',
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ publicKey: Type.String(), checkpoints: Type.Array(CheckpointSchema) }), ...errorResponses },
        },
      },
      async (req) => ({ publicKey: s.audit.signer.publicKeyPem, checkpoints: await s.audit.checkpoints(req.query.limit ?? 100) }),
    );

    app.post(
      '/audit/checkpoints',
      {
        config: { permission: 'security.manage' as const },
        schema: {
          tags,
          description: 'Signs the current head of the chain as a checkpoint now (also done on the schedule of AUDIT_CHECKPOINT_INTERVAL).',
          response: { 201: CheckpointSchema, ...errorResponses },
        },
      },
      async (req, reply) => {
        reply.code(201);
        return s.audit.checkpoint(actorContext(req));
      },
    );
  };
