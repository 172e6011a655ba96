import type { FastifyReply } from 'fastify';
import type { Config } from '../../config/index.js';
import type { IssuedToken } from '../../auth/session/index.js';

/**
 * Browser-mode cookies (AUTH-3): `__Host-` prefixed, HttpOnly session cookie and a readable
 * XSRF cookie. COOKIE_INSECURE_DEV (loopback only) drops Secure and therefore the prefix.
 */
export function cookieNames(config: Config): { session: string; xsrf: string } {
  return config.cookieInsecureDev
    ? { session: 'palisade_session', xsrf: 'palisade_xsrf' }
    : { session: '__Host-palisade_session', xsrf: '__Host-palisade_xsrf' };
}

export function setSessionCookies(reply: FastifyReply, config: Config, issued: IssuedToken, xsrf: string, remember: boolean, now: number): void {
  const names = cookieNames(config);
  const base = { path: '/', secure: !config.cookieInsecureDev, sameSite: 'lax' as const };
  // A remembered session persists until its absolute end; otherwise the cookie dies with the browser.
  const maxAge = remember ? Math.max(0, Math.floor((issued.sessionExpiresAt - now) / 1000)) : undefined;
  reply.setCookie(names.session, issued.token, { ...base, httpOnly: true, ...(maxAge !== undefined ? { maxAge } : {}) });
  reply.setCookie(names.xsrf, xsrf, { ...base, httpOnly: false, ...(maxAge !== undefined ? { maxAge } : {}) });
}

export function clearSessionCookies(reply: FastifyReply, config: Config): void {
  const names = cookieNames(config);
  const base = { path: '/', secure: !config.cookieInsecureDev, sameSite: 'lax' as const };
  reply.clearCookie(names.session, { ...base, httpOnly: true });
  reply.clearCookie(names.xsrf, base);
}

/**
 * The browser binding of a single sign-on in progress (AUTH-13): HttpOnly, Lax (the provider's redirect
 * back is a top-level GET), ten minutes; its hash is kept with the flow, so a callback opened in
 * another browser (a code and state handed to a victim) is refused.
 */
export function ssoCookieName(config: Config): string {
  return config.cookieInsecureDev ? 'palisade_sso' : '__Host-palisade_sso';
}

/**
 * `crossSitePost`: the provider answers by a cross-site POST (SAML's HTTP-POST binding), which a SameSite=Lax cookie
 * does not follow, so the binding cookie is SameSite=None (still Secure, HttpOnly, __Host-; D302). It holds only the
 * flow's browser binding, never a session.
 */
export function setSsoCookie(reply: FastifyReply, config: Config, binding: string, crossSitePost = false): void {
  const sameSite = crossSitePost && !config.cookieInsecureDev ? ('none' as const) : ('lax' as const);
  reply.setCookie(ssoCookieName(config), binding, { path: '/', secure: !config.cookieInsecureDev, sameSite, httpOnly: true, maxAge: 600 });
}

export function clearSsoCookie(reply: FastifyReply, config: Config): void {
  reply.clearCookie(ssoCookieName(config), { path: '/', secure: !config.cookieInsecureDev, sameSite: 'lax', httpOnly: true });
}
