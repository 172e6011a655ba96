import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type, { type Static, type TObject } from 'typebox';
import { patchSchema, type SettingsArea } from '../../config/settings-area.js';
import { tokenPolicyArea } from '../../auth/token-policy.js';
import type { RouteServices as Services } from '../../services.js';
import { SECURITY_EVENT_TYPES } from '../../audit/events.js';
import { errorResponses } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';

const EventSchema = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  type: Type.String(),
  outcome: Type.String(),
  actor: Type.Object({ id: Type.Union([Type.String(), Type.Null()]), name: Type.Union([Type.String(), Type.Null()]) }),
  subjectId: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.Union([Type.String(), Type.Null()]),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

/**
 * GET and PATCH for one settings area (security.manage; the event log: audit.read). Both take their
 * schema from the area: the PATCH body is any non-empty subset of its fields with the same bounds.
 * A PATCH is validated as a whole, applies to every instance at the next request, and is audited
 * with the values before and after.
 */
export function settingsRoutes<S extends TObject>(
  plain: FastifyInstance,
  s: Services,
  path: string,
  area: SettingsArea<S>,
  description: string,
  /** Runs on the complete new value before it is stored; throws to refuse (self-lockout checks). */
  guard?: (after: Static<S>, req: FastifyRequest) => Promise<void>,
): void {
  type T = Static<S>;
  const schema = area.schema;
  // Write-only fields (secrets) are never answered: the view shows `<field>Set` instead.
  const view = area.viewSchema;
  const app = plain;
  const config = { permission: 'security.manage' as const };
  const tags = ['admin: settings'];
  app.get(
    path,
    { config, schema: { tags, description, response: { 200: view, ...errorResponses } } },
    async (): Promise<unknown> => area.view(await s.settings.get(area)),
  );
  app.patch(
    path,
    {
      config,
      schema: {
        tags,
        description: `${description} Changes apply to every instance at the next request and are audited.`,
        body: patchSchema(schema),
        response: { 200: view, ...errorResponses },
      },
    },
    async (req): Promise<unknown> => {
      const ctx = actorContext(req);
      if (guard) await guard({ ...(await s.settings.get(area)), ...(req.body as Partial<T>) }, req);
      return area.view(await s.settings.change(area, req.body as Partial<T>, ctx));
    },
  );
}

/** Security settings, the security event log and the signing key ring (security.manage; the event log: audit.read). */
export const adminSecurityRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const config = { permission: 'security.manage' as const };

    settingsRoutes(plain, s, '/settings/token-policy', tokenPolicyArea, 'The token policy; durations in seconds.');

    app.get(
      '/security-events',
      {
        config: { permission: 'audit.read' as const, keys: true },
        schema: {
          tags: ['admin: audit'],
          description: 'Newest first. Page with beforeId = the last id of the previous page.',
          querystring: Type.Object(
            {
              type: Type.Optional(Type.Union(SECURITY_EVENT_TYPES.map((t) => Type.Literal(t)))),
              outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('info')])),
              actorId: Type.Optional(Type.String({ maxLength: 64 })),
              subjectId: Type.Optional(Type.String({ maxLength: 64 })),
              ip: Type.Optional(Type.String({ maxLength: 64 })),
              since: Type.Optional(Type.String({ format: 'date-time' })),
              until: Type.Optional(Type.String({ format: 'date-time' })),
              beforeId: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ events: Type.Array(EventSchema) }), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const events = await s.securityLog.list({
          type: q.type,
          outcome: q.outcome,
          actorId: q.actorId,
          subjectId: q.subjectId,
          ip: q.ip,
          since: q.since ? Date.parse(q.since) : undefined,
          until: q.until ? Date.parse(q.until) : undefined,
          beforeId: q.beforeId,
          limit: q.limit ?? 100,
        });
        return { events };
      },
    );

    const KeySchema = Type.Object({
      kid: Type.String(),
      createdAt: Type.String(),
      retiredAt: Type.Union([Type.String(), Type.Null()]),
      active: Type.Boolean(),
    });

    app.get(
      '/keys',
      {
        config,
        schema: {
          tags: ['admin: keys'],
          description: 'Key ids only; key material is derived from APP_KEY and never leaves the server.',
          response: { 200: Type.Object({ keys: Type.Array(KeySchema) }), ...errorResponses },
        },
      },
      async () => ({
        keys: (await s.keys.list()).map((k) => ({
          kid: k.kid,
          createdAt: new Date(k.createdAt).toISOString(),
          retiredAt: k.retiredAt ? new Date(k.retiredAt).toISOString() : null,
          active: k.retiredAt === null,
        })),
      }),
    );

    app.post(
      '/keys/rotate',
      {
        config,
        schema: { tags: ['admin: keys'], response: { 200: Type.Object({ kid: Type.String() }), ...errorResponses } },
      },
      async (req) => {
        return { kid: (await s.keys.rotate(actorContext(req))).kid };
      },
    );
  };
