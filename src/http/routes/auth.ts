import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Principal } from '../../access/principal.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { SessionsTable } from '../../db/types.js';
import { publicUser } from '../../auth/users.js';
import { AppError } from '../../errors.js';
import { assertRecentSignIn } from '../../auth/session/recent.js';
import { Email, IdParam, Password, SessionSchema, UserSchema, Username, errorResponses } from '../schemas.js';
import { actorContext, principalOf, renewPresentedSession, requestContext, requireSession } from '../pipeline/authenticate.js';
import { clearSessionCookies, setSessionCookies } from '../pipeline/cookies.js';
import { LoginAnswer, signInAnswer } from './sign-in-answer.js';
import { BotCheckProof } from './bot-check.js';
import { isoOf } from '../../util/iso.js';

const JSON_UTF8 = 'application/json; charset=utf-8';

/**
 * `/me`'s answer as last serialized for a session, with the user and the principal it was made from (D460). Sessions,
 * users and principals are frozen objects the credential lookup and the access caches give again, the same object,
 * while nothing they were read from has changed (D450, D360): the same three objects make the same answer. Any change
 * (a renewal, a role, a lock, a grant) comes as a new object and the answer is made again. An answer goes with its
 * session object: when the lookup drops that row (read again under a new mark, or pushed out past its 5 000 rows).
 */
const meAnswers = new WeakMap<object, { user: object; principal: object; body: string }>();

export function sessionView(x: SessionsTable, currentId: string | null) {
  return {
    id: x.id,
    current: x.id === currentId,
    mode: x.mode,
    rememberMe: x.remember === 1,
    device: x.user_agent,
    ip: x.ip,
    createdAt: isoOf(x.created_at),
    lastSeenAt: isoOf(x.last_seen_at),
    expiresAt: isoOf(x.expires_at),
  };
}

const LoginBody = Type.Object(
  {
    username: Type.Optional(Username),
    email: Type.Optional(Email),
    password: Password,
    rememberMe: Type.Optional(Type.Boolean()),
    mode: Type.Optional(
      Type.Union([Type.Literal('bearer'), Type.Literal('cookie')], {
        description: 'bearer (default): the token is in the body; cookie: HttpOnly cookie plus XSRF token',
      }),
    ),
    botCheck: Type.Optional(BotCheckProof),
  },
  { additionalProperties: false },
);

const TokenAnswer = Type.Object({
  token: Type.Optional(Type.String()),
  xsrfToken: Type.Optional(Type.String()),
  tokenExpiresAt: Type.String(),
  sessionExpiresAt: Type.String(),
});

export const authRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth'];

    app.post(
      '/login',
      {
        config: { auth: 'public', rateLimit: 'auth' },
        schema: {
          tags,
          description:
            'Signs in with a username or email and password. A session the request carries (its cookie or bearer token, of any account) ends once the new one is opened.',
          body: LoginBody,
          response: { 200: LoginAnswer, ...errorResponses },
        },
      },
      async (req, reply) => {
        const b = req.body;
        if ((b.username === undefined) === (b.email === undefined)) {
          throw new AppError('VALIDATION_FAILED', [{ path: '/', message: 'give exactly one of username or email' }]);
        }
        const mode = b.mode ?? 'bearer';
        const rememberMe = b.rememberMe ?? false;
        // Prove who the caller is, then the one funnel to a session (its gates run before the session exists).
        const request = requestContext(req);
        // The bot check first: before any lookup or hashing (AUTH-15).
        await s.botCheck.assert(b.botCheck, { ...request, action: 'login' });
        const user = await s.credentials.password.prove({ identifier: (b.username ?? b.email)!, password: b.password }, request);
        // A user with a second factor (or required to have one) gets MFA_REQUIRED or MFA_ENROLMENT_REQUIRED
        // from the funnel's gate instead; the second step is POST /api/auth/mfa/verify (routes/mfa.ts).
        const opened = await s.sessions.create(user, 'password', { mode, rememberMe, request });
        return signInAnswer(s, reply, user, opened, { mode, rememberMe });
      },
    );

    app.post(
      '/refresh',
      {
        config: { auth: 'public', rateLimit: 'write' },
        schema: {
          tags,
          description: 'Renews the presented token (Authorization header, or the session cookie with the XSRF header). Each token is renewed once.',
          response: { 200: TokenAnswer, ...errorResponses },
        },
      },
      async (req, reply) => {
        const { via, session, issued } = await renewPresentedSession(req, s);
        const times = { tokenExpiresAt: isoOf(issued.expiresAt), sessionExpiresAt: isoOf(issued.sessionExpiresAt) };
        if (via === 'cookie') {
          const xsrfToken = s.sessions.xsrfToken(session.id);
          setSessionCookies(reply, s.config, issued, xsrfToken, session.remember === 1, s.now());
          return { ...times, xsrfToken };
        }
        return { ...times, token: issued.token };
      },
    );

    const endCurrent = (reply: FastifyReply) => {
      clearSessionCookies(reply, s.config);
      reply.code(204);
    };

    app.post(
      '/logout',
      {
        schema: {
          tags,
          description:
            "Ends the current session (204). When a SAML provider with single logout (`saml.sloUrl`) opened it, the answer is 200 `{ redirect }` instead: the IdP's single logout address with Palisade's LogoutRequest, for the browser to follow to end the IdP's session too; the Palisade session has ended either way.",
          response: { 200: Type.Object({ redirect: Type.String() }), 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        const auth = requireSession(req);
        await s.sessions.logout(auth.session.id, auth.user.id, actorContext(req));
        const redirect = await s.sso.logoutUrlFor(auth.session);
        if (redirect === null) return endCurrent(reply);
        clearSessionCookies(reply, s.config);
        reply.header('cache-control', 'no-store');
        return { redirect };
      },
    );

    // Ending every session, or another one, needs a recent sign-in: a stolen session cannot sign the user out (D432).
    app.post('/logout-all', { config: { recentAuth: true }, schema: { tags, response: { 204: Type.Null(), ...errorResponses } } }, async (req, reply) => {
      const auth = requireSession(req);
      await s.sessions.logoutAll(auth.user.id, actorContext(req));
      endCurrent(reply);
    });

    const AccessSchema = Type.Object({
      held: Type.Array(Type.String(), { description: "Every role the user holds, their own and their departments'." }),
      activeRole: Type.Union([Type.String(), Type.Null()], { description: 'The role this session acts with; null: the union of all held roles.' }),
      roles: Type.Array(Type.String(), { description: 'The roles requests act with now.' }),
      departments: Type.Array(Type.String()),
      permissions: Type.Array(Type.String(), { description: 'System permissions of the acting roles.' }),
      menus: Type.Array(Type.String(), { description: 'UI page keys of the acting roles; ["*"] for administrators.' }),
    });
    const accessView = (p: Principal) => ({
      held: p.held,
      activeRole: p.active,
      roles: p.roles,
      departments: p.departments,
      permissions: p.permissions,
      menus: p.menus,
    });

    app.get(
      '/me',
      {
        schema: {
          tags,
          description: 'The signed-in user, their session, and what they may do: roles, departments, system permissions and menu keys (for the UI).',
          response: { 200: Type.Object({ user: UserSchema, session: SessionSchema, access: AccessSchema }), ...errorResponses },
        },
      },
      async (req, reply) => {
        const auth = requireSession(req);
        const principal = await principalOf(req, s);
        const kept = meAnswers.get(auth.session);
        if (kept !== undefined && kept.user === auth.user && kept.principal === principal) return (reply as FastifyReply).type(JSON_UTF8).send(kept.body);
        // Serialized by the route's own response schema, as a returned object would be: only the schema's fields leave.
        const body = String(
          reply.serialize({ user: publicUser(auth.user), session: sessionView(auth.session, auth.session.id), access: accessView(principal) }),
        );
        if (Object.isFrozen(auth.session) && Object.isFrozen(auth.user) && Object.isFrozen(principal))
          meAnswers.set(auth.session, { user: auth.user, principal, body });
        return (reply as FastifyReply).type(JSON_UTF8).send(body);
      },
    );

    app.put(
      '/active-role',
      {
        config: { rateLimit: 'write' },
        schema: {
          tags,
          description:
            'Switches the role this session acts with (it must be one the user holds), or back to the union of all held roles with null. Other sessions are not affected.',
          body: Type.Object({ role: Type.Union([Type.String({ minLength: 1, maxLength: 41 }), Type.Null()]) }, { additionalProperties: false }),
          response: { 200: Type.Object({ access: AccessSchema }), ...errorResponses },
        },
      },
      async (req) => {
        const auth = requireSession(req);
        const role = req.body.role;
        await s.sessions.setActiveRole(auth.session, role, (await principalOf(req, s)).held, actorContext(req));
        return { access: accessView(await s.access.principal(auth.user, role)) };
      },
    );

    app.get(
      '/sessions',
      {
        schema: { tags, response: { 200: Type.Object({ sessions: Type.Array(SessionSchema) }), ...errorResponses } },
      },
      async (req) => {
        const auth = requireSession(req);
        const rows = await s.sessions.listLive(auth.user.id);
        return { sessions: rows.map((x) => sessionView(x, auth.session.id)) };
      },
    );

    app.delete(
      '/sessions/:id',
      {
        schema: { tags, params: IdParam, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (req, reply) => {
        const auth = requireSession(req);
        // Ending the current session is signing out; ending another needs a recent sign-in (D432).
        if (req.params.id !== auth.session.id) assertRecentSignIn(auth, s.now());
        // Another user's session is indistinguishable from no session.
        if (!(await s.sessions.endOwnSession(auth.user.id, req.params.id, actorContext(req)))) throw new AppError('NOT_FOUND');
        if (req.params.id === auth.session.id) clearSessionCookies(reply, s.config);
        reply.code(204);
      },
    );

    app.post(
      '/password',
      {
        schema: {
          tags,
          description: "Changes the signed-in user's password; needs the current one; ends every other session.",
          body: Type.Object({ currentPassword: Password, newPassword: Password }, { additionalProperties: false }),
          response: { 200: Type.Object({ otherSessionsEnded: Type.Integer() }), ...errorResponses },
        },
      },
      async (req) => {
        const auth = requireSession(req);
        const n = await s.users.changeOwnPassword(auth.user, auth.session.id, req.body.currentPassword, req.body.newPassword, actorContext(req));
        return { otherSessionsEnded: n };
      },
    );
  };
