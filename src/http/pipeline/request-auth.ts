import type { FastifyRequest } from 'fastify';
import type { RouteServices as Services } from '../../services.js';
import type { AuthState, SessionAuth } from '../../auth/session/index.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { Power, Principal } from '../../access/principal.js';

/** Request context for audit events, without the actor. */
export function requestContext(req: FastifyRequest): Omit<EventContext, 'actor'> {
  const ua = req.headers['user-agent'];
  return { ip: req.clientIp, userAgent: typeof ua === 'string' ? ua : null, requestId: req.id };
}

/** The full audit context of an authenticated request. */
export function actorContext(req: FastifyRequest): EventContext {
  const a = req.auth;
  const ctx: EventContext = { ...requestContext(req), actor: a ? { id: a.user.id, name: a.user.username } : { id: null, name: 'anonymous' } };
  if (a?.method === 'apikey') ctx.via = { method: 'apikey', keyId: a.key.id };
  else if (a?.method === 'basic') ctx.via = { method: 'basic' };
  return ctx;
}

export function requireAuth(req: FastifyRequest): AuthState {
  if (!req.auth) throw new AppError('AUTH_REQUIRED');
  return req.auth;
}

/** The caller's session; API keys and basic authentication have none (SESSION_REQUIRED). */
export function requireSession(req: FastifyRequest): SessionAuth {
  const auth = requireAuth(req);
  if (auth.method !== 'session') throw new AppError('SESSION_REQUIRED');
  return auth;
}

const principals = new WeakMap<FastifyRequest, Promise<Principal>>();

/**
 * The caller's roles, departments and permissions, read once per request. A session acts with its
 * active role (or all held); an API key with its one role only, never as an administrator, and only
 * while the owner still holds that role.
 */
export function principalOf(req: FastifyRequest, s: Services): Promise<Principal> {
  const auth = requireAuth(req);
  let p = principals.get(req);
  if (!p) {
    p =
      auth.method === 'apikey'
        ? s.access.principal(auth.user, auth.key.role, { asKey: true })
        : s.access.principal(auth.user, auth.method === 'session' ? auth.session.active_role : null);
    principals.set(req, p);
  }
  return p;
}

/** The power the caller holds, for the "nobody grants more than they hold" checks. */
export async function powerOf(req: FastifyRequest, s: Services): Promise<Power> {
  return s.access.powerOf(await principalOf(req, s));
}
