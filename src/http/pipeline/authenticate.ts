import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RouteServices as Services } from '../../services.js';
import type { AuthState, IssuedToken, PendingSession } from '../../auth/session/index.js';
import type { EventContext } from '../../audit/events.js';
import type { SessionsTable, UsersTable } from '../../db/types.js';
import { clearAccount, type AccountCleared } from '../../auth/standing.js';
import { AppError } from '../../errors.js';
import { cookieNames, setSessionCookies } from './cookies.js';
import { consumeUserBudget } from './edge.js';
import type { Power, Principal, SystemPermission } from '../../access/principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthState | null;
  }
  interface FastifyContextConfig {
    /** Who may call the route. Absent means 'user': routes are authenticated by default. */
    auth?: 'public' | 'user' | 'admin';
    /** A system permission the caller's acting roles must carry (administrators hold all). Implies a signed-in user. */
    permission?: SystemPermission;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const USER_TARGET = /^\/api\/admin\/users\/:id(\/|$)/;
const BEARER = /^Bearer ([A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{0,512})$/;

/** Request context for audit events, without the actor. */
export function requestContext(req: FastifyRequest): Omit<EventContext, 'actor'> {
  const ua = req.headers['user-agent'];
  return { ip: req.clientIp, userAgent: typeof ua === 'string' ? ua : null, requestId: req.id };
}

/** The full audit context of an authenticated request. */
export function actorContext(req: FastifyRequest): EventContext {
  const a = req.auth;
  return { ...requestContext(req), actor: a ? { id: a.user.id, name: a.user.username } : { id: null, name: 'anonymous' } };
}

export function requireAuth(req: FastifyRequest): AuthState {
  if (!req.auth) throw new AppError('AUTH_REQUIRED');
  return req.auth;
}

const principals = new WeakMap<FastifyRequest, Promise<Principal>>();

/** The caller's roles, departments and permissions, read once per request. */
export function principalOf(req: FastifyRequest, s: Services): Promise<Principal> {
  const auth = requireAuth(req);
  let p = principals.get(req);
  if (!p) {
    p = s.access.principal(auth.user, auth.session.active_role);
    principals.set(req, p);
  }
  return p;
}

/** The power the caller holds, for the "nobody grants more than they hold" checks. */
export async function powerOf(req: FastifyRequest, s: Services): Promise<Power> {
  return s.access.powerOf(await principalOf(req, s));
}

/** Where the presented token came from, if anywhere. Authorization wins over a cookie. */
export function presentedToken(req: FastifyRequest, s: Services): { token: string; via: 'bearer' | 'cookie' } | null {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = BEARER.exec(header);
    if (!m) throw new AppError('TOKEN_INVALID', undefined, 'malformed Authorization header');
    return { token: m[1]!, via: 'bearer' };
  }
  const c = req.cookies[cookieNames(s.config).session];
  return c ? { token: c, via: 'cookie' } : null;
}

/** The XSRF check for a cookie-authenticated unsafe request; undefined when none is needed. */
export function xsrfGate(req: FastifyRequest, s: Services, via: 'bearer' | 'cookie'): ((sid: string) => void) | undefined {
  if (via !== 'cookie' || SAFE_METHODS.has(req.method)) return undefined;
  return (sid: string) => {
    const h = req.headers['x-xsrf-token'];
    if (!s.sessions.checkXsrf(sid, typeof h === 'string' ? h : undefined)) throw new AppError('XSRF_TOKEN_INVALID');
  };
}

/** A caller identified by an authenticator; nothing of authenticating has been written yet. */
export interface Identified {
  user: UsersTable;
  /** The authenticator's side effects (renewal, last seen), once the account stage has passed. */
  complete(cleared: AccountCleared): Promise<AuthState>;
}

/**
 * One way a request proves who it is. `identify` answers null when the request carries no credential
 * of its kind, and throws when it carries one that fails (no fall-through to the next authenticator).
 */
export interface Authenticator {
  readonly method: AuthState['method'];
  identify(req: FastifyRequest, s: Services): Promise<Identified | null>;
}

/** A session token, from `Authorization: Bearer` or the session cookie (XSRF-checked for unsafe methods). */
export const sessionTokenAuthenticator: Authenticator = {
  method: 'session',
  async identify(req, s) {
    const presented = presentedToken(req, s);
    if (!presented) return null;
    const gate = xsrfGate(req, s, presented.via);
    const pending = await s.sessions.identify(presented.token, presented.via, requestContext(req), presented.via === 'cookie', gate);
    return sessionIdentified(pending, presented.via);
  },
};

function sessionIdentified(pending: PendingSession, via: 'bearer' | 'cookie'): Identified {
  return {
    user: pending.user,
    async complete(cleared) {
      const { session, renewed } = await pending.complete(cleared);
      return { method: 'session', via, user: pending.user, session, ...(renewed ? { renewed } : {}) };
    },
  };
}

/** Asked in this order; the first that finds its credential decides. API keys go before session tokens. */
export const AUTHENTICATORS: readonly Authenticator[] = Object.freeze([sessionTokenAuthenticator]);

/**
 * Authenticates a request: the first authenticator that finds a credential identifies the caller,
 * the account stage (disabled, locked) runs on every authenticator's result, and only then does the
 * authenticator write anything (renewal, last seen).
 */
export async function authenticateRequest(req: FastifyRequest, s: Services, authenticators: readonly Authenticator[] = AUTHENTICATORS): Promise<AuthState> {
  for (const a of authenticators) {
    const found = await a.identify(req, s);
    if (found) return found.complete(await clearAccount(found.user, s.locks));
  }
  throw new AppError('AUTH_REQUIRED');
}

/**
 * POST /api/auth/refresh (a public route, outside the stage): the presented session token is
 * renewed, valid or not, once its user has passed the same account stage.
 */
export async function renewPresentedSession(
  req: FastifyRequest,
  s: Services,
): Promise<{ via: 'bearer' | 'cookie'; session: SessionsTable; issued: IssuedToken }> {
  const presented = presentedToken(req, s);
  if (!presented) throw new AppError('AUTH_REQUIRED');
  const pending = await s.sessions.identifyForRefresh(presented.token, presented.via, requestContext(req), xsrfGate(req, s, presented.via));
  const { session, renewed } = await pending.complete(await clearAccount(pending.user, s.locks));
  return { via: presented.via, session, issued: renewed };
}

/**
 * The authenticate stage of the pipeline. Deny by default: every route needs a signed-in
 * user unless it says `auth: 'public'`. Cookie-authenticated unsafe requests must carry the
 * session's XSRF token, checked before anything else happens (no renewal, no side effect).
 */
export function registerAuthPipeline(app: FastifyInstance, s: Services): void {
  app.decorateRequest('auth', null);
  app.addHook('onRequest', async (req, reply) => {
    const level = req.routeOptions.config.auth ?? 'user';
    if (level === 'public') return;
    const state = await authenticateRequest(req, s);
    if (state.renewed) {
      setSessionCookies(reply, s.config, state.renewed, s.sessions.xsrfToken(state.session.id), state.session.remember === 1, s.now());
    }
    req.auth = state;
    await consumeUserBudget(req, reply, s, state.user.id);
    if (level === 'admin' && state.user.is_admin !== 1) throw new AppError('FORBIDDEN');
    const permission = req.routeOptions.config.permission;
    if (permission !== undefined && !(await principalOf(req, s)).permissions.includes(permission)) {
      throw new AppError('FORBIDDEN', undefined, `missing permission ${permission}`);
    }
    // Every admin route on one user (/api/admin/users/:id…) acts only on a user who holds no more than
    // the caller: checked here once, so no such route, present or future, can forget it.
    if (permission !== undefined && USER_TARGET.test(req.routeOptions.url ?? '')) {
      await s.access.checkManageable(await powerOf(req, s), String((req.params as { id?: unknown }).id ?? ''));
    }
  });
}
