import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { IpRulesTable } from '../../db/types.js';
import { geoArea } from '../../edge/ip-rules.js';
import { rateLimitArea } from '../../edge/rate-limit.js';
import { AppError } from '../../errors.js';
import { IdParam, Label, errorResponses } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';
import { settingsRoutes } from './admin-security.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const RuleSchema = Type.Object({
  id: Type.String(),
  action: Type.String(),
  cidr: Type.String(),
  scope: Type.String(),
  note: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
});
const ruleView = (r: IpRulesTable) => ({
  id: r.id,
  action: r.action,
  cidr: r.cidr,
  scope: r.scope,
  note: r.note,
  createdAt: new Date(r.created_at).toISOString(),
  createdBy: r.created_by,
});

const LockSchema = Type.Object({
  userId: Type.String(),
  username: Type.String(),
  lockedAt: Type.String(),
  lockedUntil: Type.Union([Type.String(), Type.Null()]),
  reason: Type.String(),
  lockedBy: Type.Union([Type.String(), Type.Null()]),
});

/** Lockout, spread detection, rate limits, IP and country rules (security.manage; locks: accounts.unlock). */
export const adminEdgeRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    settingsRoutes(
      plain,
      s,
      '/settings/lockout',
      s.lockout.area,
      'Account lockout (AUTH-9); seconds; lockDuration 0 = until an administrator unlocks.',
      undefined,
      true,
    );
    settingsRoutes(
      plain,
      s,
      '/settings/spread',
      s.spread.area,
      'Spread-attack detection (AUTH-10): failed sign-ins across all accounts per sliding window; seconds.',
    );
    settingsRoutes(plain, s, '/settings/rate-limits', rateLimitArea, 'Requests (and upload bytes) per window, per client address and per user.');
    settingsRoutes(plain, s, '/settings/geo', geoArea, 'Allowed countries (empty: off) and the answer for addresses with no country.', (after, req) =>
      s.ipRules.guardGeo(after, req.clientIp),
    );

    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const config = { permission: 'security.manage' as const };
    const unlock = { permission: 'accounts.unlock' as const };

    app.get(
      '/ip-rules',
      {
        config,
        schema: { tags: ['admin: edge'], response: { 200: Type.Object({ rules: Type.Array(RuleSchema) }), ...errorResponses } },
      },
      async () => ({ rules: (await s.ipRules.list()).map(ruleView) }),
    );

    app.post(
      '/ip-rules',
      {
        config,
        schema: {
          tags: ['admin: edge'],
          description:
            'Adds an allow or block rule for an address or CIDR range (IPv4 or IPv6), for the whole API or the admin routes only. A rule that would shut out the administrator making the change is refused.',
          body: Type.Object(
            {
              action: Type.Union([Type.Literal('allow'), Type.Literal('block')]),
              cidr: Type.String({ minLength: 2, maxLength: 64 }),
              scope: Type.Optional(Type.Union([Type.Literal('all'), Type.Literal('admin')])),
              note: Type.Optional(Type.String({ maxLength: 200 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ rule: RuleSchema }), ...errorResponses },
        },
      },
      async (req, reply) => {
        const rule = await s.ipRules.add({ ...req.body, scope: req.body.scope ?? 'all' }, req.clientIp, actorContext(req));
        reply.code(201);
        return { rule: ruleView(rule) };
      },
    );

    app.delete(
      '/ip-rules/:id',
      {
        config,
        schema: { tags: ['admin: edge'], params: IdParam, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (req, reply) => {
        await s.ipRules.remove(req.params.id, req.clientIp, actorContext(req));
        reply.code(204);
      },
    );

    app.get(
      '/locked-accounts',
      {
        config: unlock,
        schema: { tags: ['admin: lockout'], response: { 200: Type.Object({ accounts: Type.Array(LockSchema) }), ...errorResponses } },
      },
      async () => ({
        accounts: (await s.locks.listLocked()).map((l) => ({ ...l, lockedAt: new Date(l.lockedAt).toISOString(), lockedUntil: iso(l.lockedUntil) })),
      }),
    );

    app.post(
      '/users/:id/lock',
      {
        config: unlock,
        schema: {
          tags: ['admin: lockout'],
          params: IdParam,
          description: 'Locks an account by hand until unlocked. A locked account is refused by every authentication method.',
          body: Type.Object({ reason: Label(200) }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.users.lockByAdministrator(req.params.id, req.body.reason, actorContext(req));
        reply.code(204);
      },
    );

    app.post(
      '/users/:id/unlock',
      {
        config: unlock,
        schema: { tags: ['admin: lockout'], params: IdParam, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (req, reply) => {
        if (!(await s.users.get(req.params.id))) throw new AppError('NOT_FOUND');
        await s.locks.unlock(req.params.id, actorContext(req));
        reply.code(204);
      },
    );
  };
