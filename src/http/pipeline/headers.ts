import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { requestScheme, type ClientIpOptions } from '../../edge/client-ip.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A page of the admin UI: it gets the page policy (PAGE_CSP) instead of the API's `default-src 'none'`. */
    page?: boolean;
  }
}

/** Where the admin UI's pages report what their policy refused (src/http/routes/csp-reports.ts, D393). */
export const CSP_REPORT_PATH = '/csp-reports';

/** Baseline security headers of every response (EDGE-5 extends them). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // base-uri and form-action do not fall back to default-src (CSP 3): named, so that no answer rendered as a page can
  // move its base or post a form anywhere (ASVS V3.4.3, D378).
  'content-security-policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  // Every answer, not only the UI's pages: an HTML answer that is no UI page (the OIDC consent page, the provider's
  // own pages, a download opened in a tab) gets no window shared with another origin either (ASVS V3.4.8, D390).
  'cross-origin-opener-policy': 'same-origin',
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
  // Violations are reported (ASVS V3.4.7, D393). report-uri, not report-to: every browser sends it at once, while
  // report-to (Chromium only) would make report-uri ignored and batch the reports for a minute.
  `report-uri ${CSP_REPORT_PATH}`,
].join('; ');

const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...SECURITY_HEADERS,
  'content-security-policy': PAGE_CSP,
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
});

/**
 * What decides Strict-Transport-Security: the value and PUBLIC_URL's host (config `hsts`), and the proxies
 * whose word says a request came over HTTPS.
 */
export interface TransportPolicy {
  readonly hsts: { readonly value: string; readonly host: string } | null;
  readonly proxies: ClientIpOptions;
}

/** Each app's policy, for the answers written outside its hooks (framework-errors.ts). */
const POLICIES = new WeakMap<object, TransportPolicy>();

/**
 * The one decision on HSTS, for every answer whatever path wrote it: over HTTPS (a TLS socket, or a
 * trusted proxy's word, read here from the connection and not from a hook's result, so that an answer
 * written before the edge hook ran, or without hooks, is judged the same) and for PUBLIC_URL's host.
 */
function hstsValue(policy: TransportPolicy | undefined, socket: Socket | undefined, headers: IncomingHttpHeaders, host: string): string | null {
  if (policy === undefined || policy.hsts === null || socket === undefined) return null;
  const encrypted = 'encrypted' in socket && socket.encrypted === true;
  if (requestScheme(encrypted, socket.remoteAddress, headers, policy.proxies) !== 'https') return null;
  return host.toLowerCase() === policy.hsts.host ? policy.hsts.value : null;
}

/** The headers of an answer the router wrote itself (no hook runs for it): the baseline, and HSTS when it applies. */
export function routerAnswerHeaders(req: FastifyRequest): Record<string, string> {
  const hsts = hstsValue(POLICIES.get(req.server), req.raw.socket, req.headers, req.hostname);
  return hsts === null ? { ...SECURITY_HEADERS } : { ...SECURITY_HEADERS, 'strict-transport-security': hsts };
}

/**
 * The headers of an answer written straight to a socket whose request could not be parsed: HTTPS is
 * known from the TLS socket only, and the host from the name the client asked for in the handshake (SNI).
 */
export function socketAnswerHeaders(server: object, socket: Socket): Record<string, string> {
  const sni = (socket as Partial<TLSSocket>).servername;
  const hsts = typeof sni === 'string' ? hstsValue(POLICIES.get(server), socket, {}, sni) : null;
  return hsts === null ? { ...SECURITY_HEADERS } : { ...SECURITY_HEADERS, 'strict-transport-security': hsts };
}

/**
 * Sets the security headers on every response. API answers are never cached. Strict-Transport-Security
 * is sent on answers over HTTPS (RFC 6797 ignores it over HTTP) to requests for PUBLIC_URL's host only;
 * the answers that no hook sees take theirs from `routerAnswerHeaders` and `socketAnswerHeaders`.
 */
export function securityHeaders(app: FastifyInstance, policy: TransportPolicy): void {
  POLICIES.set(app, policy);
  app.addHook('onSend', (req, reply, payload, done) => {
    // A 304 too: the browser takes the revalidation's headers for the cached page, policy included.
    const pageAnswer = reply.statusCode < 300 || reply.statusCode === 304;
    reply.headers(req.routeOptions.config?.page === true && pageAnswer ? PAGE_HEADERS : SECURITY_HEADERS);
    const hsts = hstsValue(policy, req.raw.socket, req.headers, req.hostname);
    if (hsts !== null) reply.header('strict-transport-security', hsts);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
}
