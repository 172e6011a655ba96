import type { FastifyRequest } from 'fastify';
import type { RouteServices as Services } from '../../services.js';
import type { AuthState, PendingSession } from '../../auth/session/index.js';
import type { UsersTable } from '../../db/types.js';
import type { AccountCleared } from '../../auth/standing.js';
import type { AccountLocks } from '../../auth/account-locks.js';
import { AppError } from '../../errors.js';
import { isDirectLoopback } from '../../edge/client-ip.js';
import { ipBudgetKey } from '../../edge/rate-limit.js';
import { cookieNames } from './cookies.js';
import { connectionOf } from './edge.js';
import { requestContext } from './request-auth.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const BEARER = /^Bearer ([A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{0,512})$/;
const KEY_BEARER = /^Bearer (pal_\S{0,200})$/;
const BASIC = /^Basic ([A-Za-z0-9+/]{1,2048}={0,2})$/;
const MAX_IDENTIFIER = 320;
const MAX_PASSWORD = 4096;

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
  /** The user's lock when the authenticator read it with the credential; else the account stage reads it. */
  lockout?: Pick<AccountLocks, 'activeLock'>;
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
    lockout: pending.lockout,
    async complete(cleared) {
      const { session, renewed } = await pending.complete(cleared);
      return { method: 'session', via, user: pending.user, session, stamps: pending.stamps, ...(renewed ? { renewed } : {}) };
    },
  };
}

/**
 * An API key (AUTH-11), as `Authorization: Bearer pal_…` or `X-API-Key`. One credential per request:
 * a key beside another Authorization header is refused, never silently preferred.
 */
export const apiKeyAuthenticator: Authenticator = {
  method: 'apikey',
  async identify(req, s) {
    const header = req.headers.authorization;
    const x = req.headers['x-api-key'];
    const fromBearer = header === undefined ? null : KEY_BEARER.exec(header);
    if (!fromBearer && x === undefined) return null;
    if (x !== undefined && (typeof x !== 'string' || header !== undefined)) throw new AppError('API_KEY_INVALID', undefined, 'two credentials');
    const secret = fromBearer ? fromBearer[1]! : (x as string);
    const { key, user, lockout, stamps } = await s.apiKeys.identify(secret.slice(0, 200), requestContext(req));
    return {
      user,
      lockout,
      async complete() {
        await s.apiKeys.used(key, req.clientIp);
        return { method: 'apikey', user, key, stamps };
      },
    };
  },
};

/**
 * HTTP basic authentication for API clients (AUTH-14): off unless the setting allows it, only over
 * HTTPS or from loopback, and each request is a password sign-in: the sign-in rate limit per address,
 * the spread check, the lockout and the hash, then the same sign-in gates as a session (a user who
 * must use a second factor is refused). It opens no session.
 */
export const basicAuthenticator: Authenticator = {
  method: 'basic',
  async identify(req, s) {
    const header = req.headers.authorization;
    if (header === undefined || !/^basic /i.test(header)) return null;
    // Off: a Basic header is no credential of ours, and the session authenticator refuses it (TOKEN_INVALID).
    if (!(await s.apiKeys.current()).basicAuth) return null;
    if (!req.viaHttps && !isDirectLoopback(req.socket.remoteAddress, s.config.trustedProxies)) throw new AppError('INSECURE_TRANSPORT');
    const m = BASIC.exec(header);
    const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon <= 0 || colon > MAX_IDENTIFIER || decoded.length - colon - 1 > MAX_PASSWORD)
      throw new AppError('INVALID_CREDENTIALS', undefined, 'malformed basic credentials');
    await s.rateLimiter.consume('auth', 'ip', ipBudgetKey(req.clientIp), 0, undefined, connectionOf(req));
    const request = requestContext(req);
    const user = await s.credentials.password.prove({ identifier: decoded.slice(0, colon), password: decoded.slice(colon + 1) }, request);
    await s.sessions.admit(user, 'basic', request);
    return { user, complete: async () => ({ method: 'basic', user }) };
  },
};

/** Asked in this order; the first that finds its credential decides. API keys go before session tokens. */
export const AUTHENTICATORS: readonly Authenticator[] = Object.freeze([apiKeyAuthenticator, basicAuthenticator, sessionTokenAuthenticator]);
