import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type, { type Static, type TObject } from 'typebox';
import { patchSchema, unitOf, type SettingsArea } from '../../config/settings-area.js';
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

/** A settings area as its admin routes serve it: the area, the full path of its GET and PATCH, what the route says of it. */
interface AreaRoute {
  area: SettingsArea;
  path: string;
  description: string;
}

/**
 * The settings areas an app serves, in the order their routes were registered: settingsRoutes is the one
 * place that records an area's path, and GET /api/admin/settings lists from here, so a new area appears in
 * the admin UI without a change there. One list per app (keyed by its services).
 */
const servedAreas = new WeakMap<Services, AreaRoute[]>();

function recordArea(s: Services, entry: AreaRoute): void {
  const list = servedAreas.get(s) ?? [];
  servedAreas.set(s, [...list.filter((e) => e.area.key !== entry.area.key), entry]);
}

const FieldSchema = Type.Object({
  name: Type.String(),
  /** The field's schema as PATCH takes it: description, default, bounds. */
  schema: Type.Record(Type.String(), Type.Unknown()),
  writeOnly: Type.Boolean({ description: 'A secret: written, never returned; the value shows `<name>Set`.' }),
  unit: Type.Optional(Type.String({ description: 'seconds, milliseconds...' })),
  sentWith: Type.Optional(Type.Array(Type.String(), { description: 'Fields whose change must write this secret again.' })),
});

const AreaIndexSchema = Type.Object({
  key: Type.String(),
  label: Type.String(),
  description: Type.String(),
  path: Type.String({ description: 'The GET and PATCH path of the area.' }),
  fields: Type.Array(FieldSchema),
  value: Type.Record(Type.String(), Type.Unknown(), { description: 'The current value as GET on the path answers it.' }),
});

async function areaIndex(s: Services): Promise<Static<typeof AreaIndexSchema>[]> {
  const out: Static<typeof AreaIndexSchema>[] = [];
  for (const { area, path, description } of servedAreas.get(s) ?? []) {
    const fields = Object.entries(area.schema.properties).map(([name, schema]) => {
      const unit = unitOf(area, name);
      const sentWith = area.sentWith[name];
      return {
        name,
        schema: { ...(schema as Record<string, unknown>) },
        writeOnly: area.writeOnly.includes(name),
        ...(unit ? { unit } : {}),
        ...(sentWith ? { sentWith: [...sentWith] } : {}),
      };
    });
    out.push({ key: area.key, label: area.label, description, path, fields, value: area.view(await s.settings.get(area)) });
  }
  return out;
}

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
  /** A change weakens how people sign in (second factors, lockout, tokens, keys, links): it needs a recent sign-in (D432). */
  recentAuth = false,
): void {
  type T = Static<S>;
  const schema = area.schema;
  // Write-only fields (secrets) are never answered: the view shows `<field>Set` instead.
  const view = area.viewSchema;
  const app = plain;
  const config = { permission: 'security.manage' as const };
  const tags = ['admin: settings'];
  recordArea(s, { area: area as unknown as SettingsArea, path: `${plain.prefix}${path}`, description });
  app.get(
    path,
    { config, schema: { tags, description, response: { 200: view, ...errorResponses } } },
    async (): Promise<unknown> => area.view(await s.settings.get(area)),
  );
  app.patch(
    path,
    {
      config: { ...config, recentAuth },
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

    app.get(
      '/settings',
      {
        config,
        schema: {
          tags: ['admin: settings'],
          description:
            "Every settings area the server serves, with its GET/PATCH path, each field's schema (description, default, bounds, unit) and the current value. Write-only fields (secrets) show only `<field>Set`.",
          response: { 200: Type.Object({ areas: Type.Array(AreaIndexSchema) }), ...errorResponses },
        },
      },
      async () => ({ areas: await areaIndex(s) }),
    );

    settingsRoutes(plain, s, '/settings/token-policy', tokenPolicyArea, 'The token policy; durations in seconds.', undefined, true);

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
        const events = await s.audit.securityEvents(actorContext(req), {
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

    app.get(
      '/security-events/types',
      {
        config: { permission: 'audit.read' as const, keys: true },
        schema: {
          tags: ['admin: audit'],
          description: 'The event types the log records (the `type` filter of /security-events).',
          response: { 200: Type.Object({ types: Type.Array(Type.String()) }), ...errorResponses },
        },
      },
      async () => ({ types: [...SECURITY_EVENT_TYPES] }),
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
        config: { ...config, recentAuth: true },
        schema: { tags: ['admin: keys'], response: { 200: Type.Object({ kid: Type.String() }), ...errorResponses } },
      },
      async (req) => {
        return { kid: (await s.keys.rotate(actorContext(req))).kid };
      },
    );
  };
