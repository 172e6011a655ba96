import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { Consent } from '../../auth/oidc-provider/index.js';
import { errorResponses } from '../schemas.js';
import { actorContext, requireSession } from '../pipeline/authenticate.js';

const ConsentSchema = Type.Object({
  clientId: Type.String(),
  clientName: Type.Union([Type.String(), Type.Null()]),
  scopes: Type.Array(Type.String()),
  grantedAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const ClientParam = Type.Object({ clientId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) }, { additionalProperties: false });

const view = (c: Consent) => ({
  ...c,
  grantedAt: new Date(c.grantedAt).toISOString(),
  expiresAt: c.expiresAt === null ? null : new Date(c.expiresAt).toISOString(),
});

/**
 * The signed-in person's consents to the applications that sign in with Palisade (AUTH-13, ASVS V10.7.3, D434) under
 * /api/auth/oidc-consents: the list, and revoking one application's (its grants, codes and access tokens end; the
 * next sign-in to it asks again). Revoking takes access away, so it needs no recent sign-in.
 */
export const oidcConsentRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: connected applications'];

    app.get(
      '',
      {
        schema: {
          tags,
          description: 'The applications you allowed to sign you in with Palisade: what each may receive, since when and until when.',
          response: { 200: Type.Object({ consents: Type.Array(ConsentSchema) }), ...errorResponses },
        },
      },
      async (req) => ({ consents: (await s.oidcProvider.consents.list(requireSession(req).user.id)).map(view) }),
    );

    app.delete(
      '/:clientId',
      {
        config: { rateLimit: 'write' },
        schema: {
          tags,
          description:
            'Revokes your consent to an application: its grants, codes and access tokens end; its next sign-in asks you again. 404 when it has none.',
          params: ClientParam,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.oidcProvider.consents.revoke(requireSession(req).user.id, req.params.clientId, actorContext(req));
        reply.code(204);
      },
    );
  };
