import type { FastifyRequest } from 'fastify';

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
  const q = url.indexOf('?');
  const path = pathOf(url);
  if (q === -1) return path;
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
  return names.size === 0 ? path : `${path}?${[...names].map(encodeURIComponent).join('&')}`;
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
