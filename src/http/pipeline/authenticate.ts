import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { RouteServices as Services } from '../../services.js';
import type { AuthState, CarriedToken, IssuedToken } from '../../auth/session/index.js';
import type { SessionsTable } from '../../db/types.js';
import { clearAccount } from '../../auth/standing.js';
import { assertRecentSignIn } from '../../auth/session/recent.js';
import { assertSameContext } from '../../auth/session/context.js';
import { tokenPolicyArea } from '../../auth/token-policy.js';
import { AppError } from '../../errors.js';
import { setSessionCookies } from './cookies.js';
import { consumeUserBudget, isAdminRoute } from './edge.js';
import type { SystemPermission } from '../../access/principal.js';
import { AUTHENTICATORS, presentedToken, xsrfGate, type Authenticator } from './authenticators.js';
import { powerOf, principalOf, requestContext } from './request-auth.js';

export { actorContext, linkCaller, linkCredentialOf, powerOf, principalOf, requestContext, requireAuth, requireSession } from './request-auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthState | null;
    /** On a public route, the session token the request came with (unverified), for a sign-in to end (D365). */
    carried: CarriedToken | null;
  }
  interface FastifyContextConfig {
    /**
     * Who may call the route. Absent means 'user': routes are authenticated by default. 'session': a
     * signed-in session only (every route under /api/auth/ is, whatever it says).
     */
    auth?: 'public' | 'user' | 'session' | 'admin';
    /** A system permission the caller's acting roles must carry (administrators hold all). Implies a signed-in user. */
    permission?: SystemPermission;
    /**
     * An /api/admin route that API keys and basic authentication may call (schema, access model, the
     * event log: what automation needs). Every other /api/admin route needs a session: credentials,
     * sessions, users and security settings are never managed by a key.
     */
    keys?: boolean;
    /**
     * A sensitive operation (step-up, D432): only a session signed in within the last ten minutes may call it; an older
     * one gets REAUTH_REQUIRED and signs in again. Every unsafe route on one user under /api/admin/users/:id has it
     * whatever it says.
     */
    recentAuth?: boolean;
  }
}

const USER_TARGET = /^\/api\/admin\/users\/:id(\/|$)/;
const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * Routes that need a session, refused to API keys and basic auth (deny by default): everything under
 * /api/auth/ (key, password, second-factor and session management) and every /api/admin route that
 * does not opt in with `keys: true`.
 */
function needsSession(req: FastifyRequest): boolean {
  const url = req.routeOptions.url ?? '';
  const c = req.routeOptions.config;
  return c.auth === 'session' || url.startsWith('/api/auth/') || (url.startsWith('/api/admin/') && c.keys !== true);
}

/**
 * Administration (ASVS V8.4.2): a route of the admin scope (isAdminRoute: `auth: 'admin'`, a system permission,
 * /api/admin), or a sensitive operation of a user who holds a system permission or the administrator flag (an API key
 * minted there would carry that power past the device and network checks).
 */
async function administers(req: FastifyRequest, state: AuthState, s: Services): Promise<boolean> {
  if (isAdminRoute(req)) return true;
  if (!needsRecentSignIn(req)) return false;
  return state.user.is_admin === 1 || (await principalOf(req, s)).permissions.length > 0;
}

/**
 * D445: with ADMIN_CLIENT_CA_FILE, the connection presented a certificate the device CA signed; `authorized` alone is
 * not enough (a resumed TLS 1.3 session without a certificate reads authorized). D444: the client address, as the edge
 * resolved it (TRUSTED_PROXIES), is in the network the session was signed in from.
 */
async function assertAdminPlace(req: FastifyRequest, session: SessionsTable, s: Services): Promise<void> {
  if (s.config.adminClientCa !== null) {
    const sock = req.raw.socket as Partial<TLSSocket>;
    const certificate = sock.authorized === true && typeof sock.getPeerX509Certificate === 'function' ? sock.getPeerX509Certificate() : undefined;
    if (certificate === undefined) throw new AppError('DEVICE_CERTIFICATE_REQUIRED');
  }
  const { adminSessionBinding } = await s.settings.get(tokenPolicyArea);
  assertSameContext(session, { ip: req.clientIp }, adminSessionBinding);
}

/** A sensitive operation (D432): a route that says so, and every unsafe admin route on one user, whatever guards it. */
function needsRecentSignIn(req: FastifyRequest): boolean {
  if (req.routeOptions.config.recentAuth === true) return true;
  return !READ_METHODS.has(req.method) && USER_TARGET.test(req.routeOptions.url ?? '');
}

/**
 * Authenticates a request: the first authenticator that finds a credential identifies the caller,
 * the account stage (disabled, locked) runs on every authenticator's result, and only then does the
 * authenticator write anything (renewal, last seen).
 */
export async function authenticateRequest(req: FastifyRequest, s: Services, authenticators: readonly Authenticator[] = AUTHENTICATORS): Promise<AuthState> {
  for (const a of authenticators) {
    const found = await a.identify(req, s);
    if (found) return found.complete(await clearAccount(found.user, found.lockout ?? s.locks));
  }
  throw new AppError('AUTH_REQUIRED');
}

/** The session token a request to a public route came with, if well formed; a sign-in there ends its session. */
function carriedToken(req: FastifyRequest, s: Services): CarriedToken | null {
  try {
    return presentedToken(req, s);
  } catch {
    return null;
  }
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
  const { session, renewed } = await pending.complete(await clearAccount(pending.user, pending.lockout));
  return { via: presented.via, session, issued: renewed };
}

/**
 * The authenticate stage of the pipeline. Deny by default: every route needs a signed-in
 * user unless it says `auth: 'public'`. Cookie-authenticated unsafe requests must carry the
 * session's XSRF token, checked before anything else happens (no renewal, no side effect).
 */
export function registerAuthPipeline(app: FastifyInstance, s: Services): void {
  app.decorateRequest('auth', null);
  app.decorateRequest('carried', null);
  app.addHook('onRequest', async (req, reply) => {
    const level = req.routeOptions.config.auth ?? 'user';
    if (level === 'public') {
      req.carried = carriedToken(req, s);
      return;
    }
    const state = await authenticateRequest(req, s);
    if (state.method === 'session' && state.renewed) {
      setSessionCookies(reply, s.config, state.renewed, s.sessions.xsrfToken(state.session.id), state.session.remember === 1, s.now());
    }
    req.auth = state;
    const budget = consumeUserBudget(req, reply, s, state.user.id);
    if (budget !== undefined) await budget;
    if (state.method !== 'session' && needsSession(req)) throw new AppError('SESSION_REQUIRED');
    if (state.method === 'apikey' && state.key.read_only === 1 && !READ_METHODS.has(req.method)) throw new AppError('API_KEY_READ_ONLY');
    // Administration from a session happens on a managed device (D445) and where the session was signed in (D444),
    // checked before the permission so that a session used elsewhere learns nothing of what it may do.
    if (state.method === 'session' && (await administers(req, state, s))) await assertAdminPlace(req, state.session, s);
    // An API key never acts as an administrator, whoever owns it.
    if (level === 'admin' && (state.method === 'apikey' || state.user.is_admin !== 1)) throw new AppError('FORBIDDEN');
    const permission = req.routeOptions.config.permission;
    if (permission !== undefined && !(await principalOf(req, s)).permissions.includes(permission)) {
      throw new AppError('FORBIDDEN', undefined, `missing permission ${permission}`);
    }
    // Every admin route on one user (/api/admin/users/:id…) acts only on a user who holds no more than
    // the caller: checked here once, so no such route, present or future, can forget it.
    if (permission !== undefined && USER_TARGET.test(req.routeOptions.url ?? '')) {
      await s.access.checkManageable(await powerOf(req, s), String((req.params as { id?: unknown }).id ?? ''));
    }
    if (needsRecentSignIn(req)) assertRecentSignIn(state, s.now());
  });
}
