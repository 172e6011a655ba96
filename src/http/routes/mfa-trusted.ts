import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { TrustedAddressView } from '../../auth/mfa/trusted-ip.js';
import { IdParam, errorResponses } from '../schemas.js';
import { actorContext, requireSession } from '../pipeline/authenticate.js';
import { settingsRoutes } from './admin-security.js';
import { iso } from './mfa.js';

const Id = IdParam.properties.id;
const AddressSchema = Type.Object({
  id: Type.String(),
  address: Type.String({ description: 'The address, or for IPv6 its /64.' }),
  successes: Type.Integer({ description: 'Full sign-ins with the second factor from it in the current window.' }),
  firstAt: Type.String(),
  lastAt: Type.String(),
  trusted: Type.Boolean({ description: 'Adaptive trust holds now (enough successes within the period).' }),
  windowEndsAt: Type.String({ description: 'When the current window, and any trust it gave, ends.' }),
});
const AddressList = Type.Object({ addresses: Type.Array(AddressSchema) });

const view = (list: TrustedAddressView[]) => ({
  addresses: list.map((a) => ({ ...a, firstAt: iso(a.firstAt), lastAt: iso(a.lastAt), windowEndsAt: iso(a.windowEndsAt) })),
});

/** IP as a factor (AUTH-12): the signed-in user's own trusted addresses, under /api/auth/mfa (sessions only). */
export const trustedAddressRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: second factor'];
    const config = { rateLimit: 'auth' as const };

    app.get(
      '/trusted-addresses',
      {
        config,
        schema: {
          tags,
          description: 'The addresses adaptive trust counts for you: sign-ins with the second factor from each, and whether it is trusted now.',
          response: { 200: AddressList, ...errorResponses },
        },
      },
      async (req) => view(await s.trustedAddresses.list(requireSession(req).user.id)),
    );

    app.delete(
      '/trusted-addresses/:id',
      {
        config,
        schema: {
          tags,
          description: 'Forgets one address (audited): the next sign-in from it needs the second factor again.',
          params: IdParam,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.trustedAddresses.forget(requireSession(req).user.id, req.params.id, actorContext(req));
        reply.code(204);
      },
    );
  };

/** A user's trusted addresses for administrators (users.manage) under /api/admin, and the `mfaIp` settings (security.manage). */
export const adminTrustedAddressRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['admin: users'];
    const config = { permission: 'users.manage' as const, auth: 'session' as const };
    settingsRoutes(
      plain,
      s,
      '/settings/mfa-ip',
      s.trustedAddresses.area,
      'IP as a factor: static trusted ranges, trusted countries, adaptive trust, and whether a trusted address may skip the second factor (periods in seconds).',
      undefined,
      true,
    );

    app.get('/users/:id/trusted-addresses', { config, schema: { tags, params: IdParam, response: { 200: AddressList, ...errorResponses } } }, async (req) =>
      view(await s.trustedAddresses.listFor(req.params.id)),
    );

    app.delete(
      '/users/:id/trusted-addresses/:addrId',
      {
        config,
        schema: {
          tags,
          description: "Forgets one of the user's trusted addresses (audited).",
          params: Type.Object({ id: Id, addrId: Id }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.trustedAddresses.forget(req.params.id, req.params.addrId, actorContext(req));
        reply.code(204);
      },
    );
  };
