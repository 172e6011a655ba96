import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { publicUser } from '../../auth/users.js';
import { AppError } from '../../errors.js';
import { Email, IdParam, Password, SessionSchema, UserSchema, Username, errorResponses } from '../schemas.js';
import { actorContext, powerOf } from '../pipeline/authenticate.js';
import { sessionView } from './auth.js';

/**
 * User administration under /api/admin (the users.manage permission). A non-administrator manager
 * cannot touch administrators or users who hold more than they do, and cannot make administrators.
 */
export const adminUserRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['admin: users'];
    const config = { permission: 'users.manage' as const };
    const administrator = async (req: FastifyRequest) => ({ ctx: actorContext(req), isAdmin: (await powerOf(req, s)).admin });

    const found = async (id: string) => {
      const u = await s.users.get(id);
      if (!u) throw new AppError('NOT_FOUND');
      return u;
    };

    app.get(
      '/users',
      {
        config,
        schema: {
          tags,
          querystring: Type.Object(
            {
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
              offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
              q: Type.Optional(Type.String({ maxLength: 100, description: 'Keeps users whose username or email contains this text (any case).' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ users: Type.Array(UserSchema) }), ...errorResponses },
        },
      },
      async (req) => ({ users: (await s.users.list(req.query.limit ?? 100, req.query.offset ?? 0, req.query.q)).map(publicUser) }),
    );

    app.post(
      '/users',
      {
        config: { ...config, recentAuth: true },
        schema: {
          tags,
          description:
            'Creates a user. `passwordHash` imports a bcrypt, `$scrypt$` or argon2id hash, re-hashed as argon2id at the first sign-in. A `password` is one-time (changed at the first sign-in, void after 72 hours) unless `mustChangePassword: false` says it is final. `invite` (no password, needs an email) mails an invitation to choose one. `ssoOnly` users have no password.',
          body: Type.Object(
            {
              username: Username,
              email: Type.Optional(Email),
              password: Type.Optional(Password),
              passwordHash: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
              isAdmin: Type.Optional(Type.Boolean()),
              mustChangePassword: Type.Optional(Type.Boolean()),
              ssoOnly: Type.Optional(Type.Boolean()),
              invite: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ user: UserSchema }), ...errorResponses },
        },
      },
      async (req, reply) => {
        const u = await s.userAdmin.create(req.body, await administrator(req));
        reply.code(201);
        return { user: publicUser(u) };
      },
    );

    app.get(
      '/users/:id',
      {
        config,
        schema: { tags, params: IdParam, response: { 200: Type.Object({ user: UserSchema }), ...errorResponses } },
      },
      async (req) => ({ user: publicUser(await found(req.params.id)) }),
    );

    app.patch(
      '/users/:id',
      {
        config,
        schema: {
          tags,
          params: IdParam,
          description:
            'Disabling a user ends all of their sessions. `mustChangePassword` requires a password change at the next sign-in; `ssoOnly: true` removes the local password.',
          body: Type.Object(
            {
              email: Type.Optional(Type.Union([Email, Type.Null()])),
              status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])),
              isAdmin: Type.Optional(Type.Boolean()),
              mustChangePassword: Type.Optional(Type.Boolean()),
              ssoOnly: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: Type.Object({ user: UserSchema }), ...errorResponses },
        },
      },
      async (req) => {
        return { user: publicUser(await s.userAdmin.update(req.params.id, req.body, await administrator(req))) };
      },
    );

    app.delete(
      '/users/:id',
      {
        config,
        schema: { tags, params: IdParam, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (req, reply) => {
        await s.users.remove(req.params.id, actorContext(req));
        reply.code(204);
      },
    );

    app.put(
      '/users/:id/password',
      {
        config,
        schema: {
          tags,
          params: IdParam,
          description:
            "Sets a user's password (the password policy applies), ends all of their sessions and revokes their API keys. It is one-time (changed at the next sign-in, void after 72 hours) unless `mustChangePassword: false` says it is final. Refused with PASSWORD_SET_FORBIDDEN when the password-reset settings deny it.",
          body: Type.Object({ password: Password, mustChangePassword: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.userAdmin.setPassword(req.params.id, req.body.password, req.body.mustChangePassword, await administrator(req));
        reply.code(204);
      },
    );

    app.get(
      '/users/:id/sessions',
      {
        config,
        schema: { tags, params: IdParam, response: { 200: Type.Object({ sessions: Type.Array(SessionSchema) }), ...errorResponses } },
      },
      async (req) => {
        return { sessions: (await s.sessions.listLive(req.params.id)).map((x) => sessionView(x, req.auth?.method === 'session' ? req.auth.session.id : null)) };
      },
    );

    app.delete(
      '/users/:id/sessions',
      {
        config,
        schema: { tags, params: IdParam, response: { 200: Type.Object({ ended: Type.Integer() }), ...errorResponses } },
      },
      async (req) => {
        return { ended: await s.sessions.endUserSessions(req.params.id, 'ended_by_admin', actorContext(req)) };
      },
    );
  };
