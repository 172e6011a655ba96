import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteServices as Services } from '../../services.js';
import { AppError } from '../../errors.js';

/** The methods the API's routes answer. */
export const CORS_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
/** The request headers the API reads (authenticators.ts): a fixed list, never the preflight's own echoed back. */
export const CORS_REQUEST_HEADERS = 'authorization, content-type, palisade-response-key, x-api-key, x-xsrf-token';
/** The response headers a client script needs: the request id, the rate budget, when to retry, export file names. */
export const CORS_EXPOSED_HEADERS = 'x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after, content-disposition';

/** Adds a name to Vary, keeping what a route set there (the UI's assets vary on accept-encoding). */
function addVary(reply: FastifyReply, name: string): void {
  const current = reply.getHeader('vary');
  const list = (Array.isArray(current) ? current.join(',') : String(current ?? ''))
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (list.some((x) => x === '*' || x.toLowerCase() === name)) return;
  reply.header('vary', [...list, name].join(', '));
}

/**
 * CORS (EDGE-5): only the listed origins (CORS_ORIGINS, exact) may read answers from a browser, with
 * credentials; an origin is echoed only when it is listed, never `*`. A preflight is a public route of its
 * own, `OPTIONS *`: it passes the edge stages (client IP, IP rules, a read from the rate budget) like any
 * request, needs no credential (the browser sends none), and an unlisted origin is refused in the envelope
 * with no allow header. Any other request is processed as usual; an unlisted origin just gets no CORS
 * header, so the browser withholds the answer from the calling page.
 */
export function registerCors(app: FastifyInstance, s: Services): void {
  const listed = new Set(s.config.cors.origins);
  const maxAge = String(s.config.cors.maxAge);
  const allowed = (req: FastifyRequest): string | null => {
    const origin = req.headers.origin;
    return typeof origin === 'string' && listed.has(origin) ? origin : null;
  };

  app.options('*', { schema: { hide: true }, config: { auth: 'public', rateLimit: 'read' } }, async (req, reply) => {
    // A plain OPTIONS is not a preflight: the API has no such route.
    if (req.headers['access-control-request-method'] === undefined) throw new AppError('NOT_FOUND');
    if (allowed(req) === null) {
      const origin = req.headers.origin;
      throw new AppError('CORS_ORIGIN_REFUSED', undefined, typeof origin === 'string' ? `origin not listed: ${origin.slice(0, 100)}` : 'no origin');
    }
    reply.header('access-control-allow-methods', CORS_METHODS);
    reply.header('access-control-allow-headers', CORS_REQUEST_HEADERS);
    reply.header('access-control-max-age', maxAge);
    return reply.code(204).send();
  });

  // No listed origin: no answer differs by Origin and none carries a CORS header.
  if (listed.size === 0) return;
  // onSend, so that error answers get the headers too (a listed client can read AUTH_REQUIRED or
  // RATE_LIMITED), and after the route, so that no route's own Vary drops Origin.
  app.addHook('onSend', (req, reply, payload, done) => {
    addVary(reply, 'origin');
    const origin = allowed(req);
    if (origin !== null) {
      reply.header('access-control-allow-origin', origin);
      reply.header('access-control-allow-credentials', 'true');
      reply.header('access-control-expose-headers', CORS_EXPOSED_HEADERS);
    }
    done(null, payload);
  });
}
