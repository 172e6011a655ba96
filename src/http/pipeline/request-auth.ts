import type { FastifyRequest } from 'fastify';
import type { RouteServices as Services } from '../../services.js';
import type { AuthState, SessionAuth, SignInContext } from '../../auth/session/index.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { Power, Principal } from '../../access/principal.js';
import type { LinkClaims, LinkCredential } from '../../files/links.js';
import type { Caller } from '../../records/service.js';
import { clearAccount } from '../../auth/standing.js';

/**
 * Request context for audit events, without the actor. On a public route it also carries the session token the
 * request came with, for the session funnel to end at a sign-in (D365); events never record it.
 */
export function requestContext(req: FastifyRequest): SignInContext {
  const ua = req.headers['user-agent'];
  return { ip: req.clientIp, userAgent: typeof ua === 'string' ? ua : null, requestId: req.id, ...(req.carried ? { carried: req.carried } : {}) };
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
    // The stamps read with the credential (D360): the principal and the caches behind it are those of this request.
    const stamp = auth.method === 'basic' ? undefined : auth.stamps?.access;
    p =
      auth.method === 'apikey'
        ? s.access.principal(auth.user, auth.key.role, { asKey: true, stamp })
        : s.access.principal(auth.user, auth.method === 'session' ? auth.session.active_role : null, { stamp });
    principals.set(req, p);
  }
  return p;
}

/** The power the caller holds, for the "nobody grants more than they hold" checks. */
export async function powerOf(req: FastifyRequest, s: Services): Promise<Power> {
  return s.access.powerOf(await principalOf(req, s));
}

/** The credential a signed link is bound to: this request's session or API key (D280). */
export function linkCredentialOf(auth: AuthState): LinkCredential {
  if (auth.method === 'session') return { kind: 'session', id: auth.session.id };
  if (auth.method === 'apikey') return { kind: 'apikey', id: auth.key.id };
  return { kind: 'basic' };
}

/**
 * The caller a redeemed signed link acts as (D252, D280): its user, still active, with the role the link was asked
 * under, and only while the credential it was asked with still works: the session not ended, the API key not revoked
 * nor expired and this request's address in the key's list. Any refusal is FILE_LINK_INVALID.
 */
export async function linkCaller(req: FastifyRequest, s: Services, claims: LinkClaims): Promise<Caller> {
  const invalid = (why: string) => new AppError('FILE_LINK_INVALID', undefined, why);
  const user = await s.users.get(claims.userId);
  if (!user) throw invalid('no such user');
  try {
    await clearAccount(user, s.locks);
  } catch {
    throw invalid('account may not act');
  }
  const c = claims.credential;
  const live =
    c.kind === 'session' ? await s.sessions.isLive(c.id, user.id) : c.kind === 'apikey' ? await s.apiKeys.usableFrom(c.id, user.id, req.clientIp) : true;
  if (!live) throw invalid(`${c.kind} no longer valid`);
  const p = await s.access.principal(user, claims.role, { asKey: claims.asKey });
  return {
    user,
    admin: p.admin,
    roles: p.roles,
    departments: p.departments,
    ctx: { ...requestContext(req), actor: { id: user.id, name: user.username }, ...(c.kind === 'apikey' ? { via: { method: 'apikey', keyId: c.id } } : {}) },
  };
}
