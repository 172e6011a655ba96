import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { errorSummary } from '../background.js';

/** The path of a request target, without its query string or fragment. */
export function pathOf(url: string): string {
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

/**
 * The request target as logged: the path, then the names of the query parameters without their
 * values (a `filter`, `search` or token in a query string never reaches the log).
 */
export function loggedUrl(url: string): string {
  const path = pathOf(url);
  const names = queryNames(url);
  return names.length === 0 ? path : `${path}?${names.map(encodeURIComponent).join('&')}`;
}

/** The names of the query parameters (at most 20, each at most 64 characters), never their values. */
export function queryNames(url: string): string[] {
  const q = url.indexOf('?');
  if (q === -1) return [];
  const names = new Set<string>();
  for (const part of url
    .slice(q + 1)
    .split('#')[0]!
    .split('&')) {
    if (part === '') continue;
    const name = part.split('=')[0]!;
    let decoded: string;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      decoded = name;
    }
    names.add(decoded.slice(0, 64));
    if (names.size >= 20) break;
  }
  return [...names];
}

/** pino serializer of the incoming request: no query values, no headers beyond the host. */
export function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: loggedUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
  };
}

const PLAIN_SEGMENT = /^[A-Za-z0-9._~-]{0,24}$/;

/**
 * The path of a request that matched no route, as logged: a segment that is long or not plain (a
 * token, an encoded value pasted into a path) becomes `*`, and at most 10 segments are kept.
 */
export function maskedPath(url: string): string {
  const segments = pathOf(url).split('/');
  const kept = segments.slice(0, 11).map((seg) => (PLAIN_SEGMENT.test(seg) ? seg : '*'));
  return kept.join('/') + (segments.length > 11 ? '/...' : '');
}

/** The matched route's pattern (`/api/collections/:name/records/:id`), or null for no route. */
function routeOf(req: FastifyRequest): string | null {
  try {
    return req.routeOptions.url ?? null;
  } catch {
    return null; // a request the router refused (malformed URL) has no route context
  }
}

/**
 * The request log (AUDIT-2): one line per answered request with the method, the route pattern (never
 * the raw URL), the status, the time taken, the names of the query parameters (never their values),
 * the client address and the signed-in user's id. A request that matched no route logs its masked
 * path instead of a pattern.
 */
export function requestLine(req: FastifyRequest, reply: FastifyReply): Record<string, unknown> {
  const route = routeOf(req);
  const query = queryNames(req.url);
  const userId = req.auth?.user.id;
  return {
    event: 'http.request',
    method: req.method,
    route: route ?? '(unmatched)',
    ...(route === null ? { path: maskedPath(req.url) } : {}),
    status: reply.statusCode,
    ms: Math.round(reply.elapsedTime * 10) / 10,
    ...(query.length > 0 ? { query } : {}),
    ip: req.clientIp || req.ip,
    ...(userId ? { userId } : {}),
  };
}

/** The levels at which an info line is written (pino's standard levels; `silent` and the ones above info write none). */
const WRITES_INFO: ReadonlySet<string> = new Set(['trace', 'debug', 'info']);

/**
 * Fastify's own request logging replaced: no "incoming request" line, no raw URL (its default 404 line
 * prints `Route GET:/path?token=... not found`), errors as their summary (class, code, message), and the
 * one request line above when the answer is written.
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ ...requestLine(req, reply), err: errorSummary(error) }, 'request failed while answering');
    // The line is built only where it is written: below info (LOG_LEVEL=warn) an answer costs no log work.
    else if (WRITES_INFO.has(reply.log.level)) reply.log.info(requestLine(req, reply), 'request');
  }

  override defaultErrorLog(error: Error, _req: FastifyRequest, reply: FastifyReply): void {
    if (reply.statusCode >= 500) reply.log.error({ event: 'system.error', err: errorSummary(error) }, 'request failed');
    else reply.log.info({ err: errorSummary(error) }, 'request refused');
  }

  override streamError(error: Error & { code?: string }, _req: FastifyRequest, reply: FastifyReply): void {
    if (error.code === 'ERR_STREAM_PREMATURE_CLOSE') reply.log.info('response stream closed early');
    else reply.log.warn({ err: errorSummary(error) }, 'response ended with an error after its headers');
  }

  override writeHeadError(error: Error, _req: FastifyRequest, reply: FastifyReply): void {
    reply.log.warn({ err: errorSummary(error) }, 'could not write the response headers');
  }
}

/** The code locations of an error's stack (at most 8 frames): where it failed, without its message, which may quote data. */
export function stackFrames(err: unknown): string[] | undefined {
  const stack = (err as { stack?: unknown })?.stack;
  if (typeof stack !== 'string') return undefined;
  return stack
    .split('\n')
    .filter((l) => l.startsWith('    at '))
    .slice(0, 8)
    .map((l) => l.trim().slice(0, 200));
}
