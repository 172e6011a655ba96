import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A page of the admin UI: it gets the page policy (PAGE_CSP) instead of the API's `default-src 'none'`. */
    page?: boolean;
  }
}

/** Baseline security headers of every response (EDGE-5 extends them). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
});

/**
 * The admin UI's pages: scripts, styles, images and connections from this origin only, no inline script
 * or style, no plugin, no base or form target elsewhere, and every DOM sink behind Trusted Types with no
 * policy allowed at all (`trusted-types 'none'`): the app builds its DOM with createElement (Svelte's
 * `fragments: 'tree'`), so any HTML written into a sink fails loudly, and the browser tests with it (D94).
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...SECURITY_HEADERS,
  'content-security-policy': PAGE_CSP,
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
});

/**
 * Sets the security headers on every response. API answers are never cached. `hsts`: the
 * Strict-Transport-Security value, sent on answers over HTTPS (RFC 6797 ignores it over HTTP) to
 * requests for PUBLIC_URL's host only.
 */
export function securityHeaders(app: FastifyInstance, hsts: { value: string; host: string } | null): void {
  app.addHook('onSend', async (req, reply, payload) => {
    // A 304 too: the browser takes the revalidation's headers for the cached page, policy included.
    const pageAnswer = reply.statusCode < 300 || reply.statusCode === 304;
    reply.headers(req.routeOptions.config?.page === true && pageAnswer ? PAGE_HEADERS : SECURITY_HEADERS);
    if (hsts !== null && req.viaHttps && req.hostname.toLowerCase() === hsts.host) reply.header('strict-transport-security', hsts.value);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
}
