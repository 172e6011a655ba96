import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import type { AuthState } from '../../auth/sessions.js';
import type { EventContext } from '../../audit/events.js';
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
    const presented = presentedToken(req, s);
    if (!presented) throw new AppError('AUTH_REQUIRED');
    const gate = xsrfGate(req, s, presented.via);
    const state = await s.sessions.authenticate(presented.token, presented.via, requestContext(req), presented.via === 'cookie', gate);
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
