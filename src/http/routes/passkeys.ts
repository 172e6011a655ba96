import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { PasskeyView } from '../../auth/passkeys/index.js';
import { IdParam, Password, errorResponses } from '../schemas.js';
import { actorContext, requestContext, requireSession } from '../pipeline/authenticate.js';
import { LoginAnswer, signInAnswer } from './sign-in-answer.js';
import { AuthenticationResponse, CreationOptions, PasskeyName, PasskeySchema, RegistrationResponse, RequestOptions } from './passkey-schemas.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const view = (p: PasskeyView) => ({ ...p, createdAt: iso(p.createdAt)!, lastUsedAt: iso(p.lastUsedAt) });
const body = <P extends Record<string, import('typebox').TSchema>>(props: P) => Type.Object(props, { additionalProperties: false });

/**
 * Passkeys (AUTH-12) under /api/auth/passkeys. A signed-in user's own passkeys need a session (every
 * route under /api/auth/ does: an API key cannot register one); registering and removing one need the
 * current password too. Signing in with one is public, on the sign-in budget, and answers like
 * POST /api/auth/login: its session comes from the same funnel.
 */
export const passkeyRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: passkeys'];
    const own = { auth: 'session' as const, rateLimit: 'auth' as const, recentAuth: true };
    const signIn = { auth: 'public' as const, rateLimit: 'auth' as const };

    app.post(
      '/registration/options',
      {
        config: own,
        schema: {
          tags,
          description:
            'Starts registering a passkey: needs the current password; answers the options for navigator.credentials.create(). Their challenge is bound to you, works once and expires in 2.5 minutes.',
          body: body({ password: Password }),
          response: { 200: CreationOptions, ...errorResponses },
        },
      },
      async (req) => {
        const { user } = requireSession(req);
        return s.passkeys.registrationOptions(user, req.body.password, actorContext(req));
      },
    );

    app.post(
      '/registration/verify',
      {
        config: own,
        schema: {
          tags,
          description: 'Finishes the registration with what navigator.credentials.create() gave; stores the passkey under the name given.',
          body: body({ response: RegistrationResponse, name: Type.Optional(PasskeyName) }),
          response: {
            201: Type.Object({
              passkey: PasskeySchema,
              recoveryCodes: Type.Union([Type.Array(Type.String()), Type.Null()], {
                description: "The ten recovery codes, shown this once, when this passkey is the account's first second factor; else null.",
              }),
            }),
            ...errorResponses,
          },
        },
      },
      async (req, reply) => {
        const { user } = requireSession(req);
        const { passkey, recoveryCodes } = await s.passkeys.register(user, req.body.response, req.body.name ?? 'Passkey', actorContext(req));
        reply.code(201);
        return { passkey: view(passkey), recoveryCodes };
      },
    );

    app.get(
      '',
      {
        config: { auth: 'session' },
        schema: { tags, description: 'Your passkeys.', response: { 200: Type.Object({ passkeys: Type.Array(PasskeySchema) }), ...errorResponses } },
      },
      async (req) => ({ passkeys: (await s.passkeys.list(requireSession(req).user.id)).map(view) }),
    );

    app.patch(
      '/:id',
      {
        config: { auth: 'session' },
        schema: {
          tags,
          description: 'Renames one of your passkeys.',
          params: IdParam,
          body: body({ name: PasskeyName }),
          response: { 200: Type.Object({ passkey: PasskeySchema }), ...errorResponses },
        },
      },
      async (req) => ({ passkey: view(await s.passkeys.rename(requireSession(req).user.id, req.params.id, req.body.name, actorContext(req))) }),
    );

    app.delete(
      '/:id',
      {
        config: own,
        schema: {
          tags,
          description: 'Removes one of your passkeys; needs the current password.',
          params: IdParam,
          body: body({ password: Password }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.passkeys.remove(requireSession(req).user, req.params.id, req.body.password, actorContext(req));
        reply.code(204);
      },
    );

    app.post(
      '/login/options',
      {
        config: signIn,
        schema: {
          tags,
          description:
            'Starts a passwordless sign-in: the options for navigator.credentials.get(), for any passkey of this site (no allowCredentials). The challenge works once and expires in 2.5 minutes.',
          response: { 200: RequestOptions, ...errorResponses },
        },
      },
      async () => s.credentials.passkey.options(),
    );

    app.post(
      '/login/verify',
      {
        config: signIn,
        schema: {
          tags,
          description:
            'Signs in with what navigator.credentials.get() gave, and answers like POST /api/auth/login. A refused assertion spends a lockout attempt on the account whose passkey it names.',
          body: body({
            response: AuthenticationResponse,
            rememberMe: Type.Optional(Type.Boolean()),
            mode: Type.Optional(
              Type.Union([Type.Literal('bearer'), Type.Literal('cookie')], {
                description: 'bearer (default): the token is in the body; cookie: HttpOnly cookie plus XSRF token',
              }),
            ),
          }),
          response: { 200: LoginAnswer, ...errorResponses },
        },
      },
      async (req, reply) => {
        const mode = req.body.mode ?? 'bearer';
        const rememberMe = req.body.rememberMe ?? false;
        const request = requestContext(req);
        // Prove who the caller is, then the one funnel to a session (its gates run before the session exists).
        const user = await s.credentials.passkey.prove(req.body.response, request);
        const opened = await s.sessions.create(user, 'passkey', { mode, rememberMe, request });
        return signInAnswer(s, reply, user, opened, { mode, rememberMe });
      },
    );
  };

const ChallengeToken = Type.String({ minLength: 1, maxLength: 100, description: 'The challengeToken of the MFA_REQUIRED answer of POST /api/auth/login.' });

/**
 * A passkey as the second step of a password sign-in, under /api/auth/mfa/passkey: public like the other
 * second steps (the single-use challenge token in the body is the only proof so far), on the sign-in
 * budget; the verify answer is POST /api/auth/login's.
 */
export const passkeySecondStepRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: second factor'];
    const step = { auth: 'public' as const, rateLimit: 'auth' as const };

    app.post(
      '/options',
      {
        config: step,
        schema: {
          tags,
          description: "The options for navigator.credentials.get() with the challenge token's user's passkeys (method passkey of MFA_REQUIRED).",
          body: body({ challengeToken: ChallengeToken }),
          response: { 200: RequestOptions, ...errorResponses },
        },
      },
      async (req) => s.mfa.passkeyOptions(req.body.challengeToken, requestContext(req)),
    );

    app.post(
      '/verify',
      {
        config: step,
        schema: {
          tags,
          description:
            'The second step with a passkey: the assertion for those options; answers like POST /api/auth/login (the mode and rememberMe of the first step). The token works once; a refused assertion spends a lockout attempt.',
          body: body({ challengeToken: ChallengeToken, response: AuthenticationResponse }),
          response: { 200: LoginAnswer, ...errorResponses },
        },
      },
      async (req, reply) => {
        const request = requestContext(req);
        const proven = await s.mfa.verifyPasskey(req.body.challengeToken, req.body.response, request);
        const opened = await s.sessions.create(proven.user, proven.method, { ...proven.session, request });
        return signInAnswer(s, reply, proven.user, opened, proven.session);
      },
    );
  };
