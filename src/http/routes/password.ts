import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { publicPolicy, PublicPasswordPolicySchema } from '../../auth/password-policy/schema.js';
import { FORGOT_ANSWER } from '../../auth/reset/index.js';
import { AppError } from '../../errors.js';
import { Email, IdParam, Password, Username, errorResponses } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';
import { settingsRoutes } from './admin-security.js';
import { BotCheckProof } from './bot-check.js';

/** Long enough for any link token, short enough that a flood of junk costs nothing. */
const LinkToken = Type.String({ minLength: 1, maxLength: 128 });

/** Public password routes under /api/auth/password (AUTH-7, AUTH-8). */
export const passwordRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: password'];
    const config = { auth: 'public' as const };
    // Reset routes have their own budget per address (EDGE-4), apart from sign-in.
    const signInConfig = { auth: 'public' as const, rateLimit: 'reset' as const };

    app.get(
      '/policy',
      {
        config,
        schema: {
          tags,
          description: 'The password policy, for forms that check a new password as it is typed. Context words are not shown.',
          response: { 200: PublicPasswordPolicySchema, ...errorResponses },
        },
      },
      async () => publicPolicy(await s.passwordPolicy.current()),
    );

    app.post(
      '/forgot',
      {
        config: signInConfig,
        schema: {
          tags,
          description:
            'Mails a single-use reset link when an active account with an email matches. The answer is always the same 202, whether or not one does; too many requests from one address answer 429 RATE_LIMITED.',
          body: Type.Object(
            { username: Type.Optional(Username), email: Type.Optional(Email), botCheck: Type.Optional(BotCheckProof) },
            { additionalProperties: false },
          ),
          response: { 202: Type.Object({ message: Type.String() }), ...errorResponses },
        },
      },
      async (req, reply) => {
        if ((req.body.username === undefined) === (req.body.email === undefined)) {
          throw new AppError('VALIDATION_FAILED', [{ path: '/', message: 'give exactly one of username or email' }]);
        }
        const { botCheck, ...who } = req.body;
        const ctx = actorContext(req);
        await s.botCheck.assert(botCheck, { ...ctx, action: 'forgot_password' });
        await s.passwordReset.forgot(who, ctx);
        reply.code(202);
        return FORGOT_ANSWER;
      },
    );

    app.post(
      '/reset',
      {
        config: signInConfig,
        schema: {
          tags,
          description:
            'Sets a new password with a link token (reset, invitation) or the change token of an expired password. The password policy applies; on success the token is spent and every session of the user ends.',
          body: Type.Object({ token: LinkToken, newPassword: Password }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.passwordReset.consume(req.body.token, req.body.newPassword, actorContext(req));
        reply.code(204);
      },
    );
  };

/** Administrator password routes under /api/admin: settings, reset links and invitations. */
export const adminPasswordRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['admin: users'];
    const config = { permission: 'users.manage' as const };

    settingsRoutes(
      plain,
      s,
      '/settings/password-policy',
      s.passwordPolicy.area,
      'The password policy; durations in seconds, validity 0 = passwords never expire.',
    );
    settingsRoutes(
      plain,
      s,
      '/settings/password-reset',
      s.passwordReset.area,
      'Password links and who may set passwords; durations in seconds.',
      undefined,
      true,
    );

    const Sent = Type.Object({ expiresAt: Type.String() });
    const iso = (ms: number) => new Date(ms).toISOString();

    app.post(
      '/users/:id/password/reset-link',
      {
        config,
        schema: {
          tags,
          params: IdParam,
          description:
            'Mails the user a single-use reset link (admin-sent lifetime). Earlier links of the user stop working. The token is never shown to the administrator.',
          response: { 202: Sent, ...errorResponses },
        },
      },
      async (req, reply) => {
        const r = await s.passwordReset.sendLink(req.params.id, 'admin_reset', actorContext(req));
        reply.code(202);
        return { expiresAt: iso(r.expiresAt) };
      },
    );

    app.post(
      '/users/:id/invitation',
      {
        config,
        schema: {
          tags,
          params: IdParam,
          description: 'Mails a user who has no password yet an invitation to choose one (invitation lifetime).',
          response: { 202: Sent, ...errorResponses },
        },
      },
      async (req, reply) => {
        const r = await s.passwordReset.sendLink(req.params.id, 'invitation', actorContext(req));
        reply.code(202);
        return { expiresAt: iso(r.expiresAt) };
      },
    );
  };
