import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { SessionsTable, UsersTable } from '../../db/types.js';
import type { IssuedToken, SessionMode } from '../../auth/session/index.js';
import { publicUser } from '../../auth/users.js';
import { UserSchema } from '../schemas.js';
import { setSessionCookies } from '../pipeline/cookies.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** The answer of every sign-in that opened a session: the password alone, or its second step. */
export const LoginAnswer = Type.Object({
  user: UserSchema,
  session: Type.Object({ id: Type.String() }),
  passwordExpiresAt: Type.Union([Type.String(), Type.Null()], { description: 'When the password expires; null when it does not.' }),
  passwordExpiryReminder: Type.Boolean({ description: 'true in the reminder period before expiry: the UI should ask for a change.' }),
  token: Type.Optional(Type.String()),
  xsrfToken: Type.Optional(Type.String()),
  tokenExpiresAt: Type.String(),
  sessionExpiresAt: Type.String(),
});

/** Builds that answer: the token in the body (bearer), or the session and XSRF cookies (cookie). */
export async function signInAnswer(
  s: Services,
  reply: FastifyReply,
  user: UsersTable,
  opened: { session: SessionsTable; issued: IssuedToken },
  asked: { mode: SessionMode; rememberMe: boolean },
) {
  const { session, issued } = opened;
  const expiry = s.passwordPolicy.expiry(user, await s.passwordPolicy.current());
  const common = {
    user: publicUser(user),
    session: { id: session.id },
    tokenExpiresAt: iso(issued.expiresAt),
    sessionExpiresAt: iso(issued.sessionExpiresAt),
    passwordExpiresAt: expiry.expiresAt === null ? null : iso(expiry.expiresAt),
    passwordExpiryReminder: expiry.reminder,
  };
  if (asked.mode === 'cookie') {
    const xsrfToken = s.sessions.xsrfToken(session.id);
    setSessionCookies(reply, s.config, issued, xsrfToken, asked.rememberMe, s.now());
    return { ...common, xsrfToken };
  }
  return { ...common, token: issued.token };
}
