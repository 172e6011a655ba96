import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteServices as Services } from '../../services.js';
import { requestScheme, resolveClientIp } from '../../edge/client-ip.js';
import { ipBudgetKey, type Budget, type Bucket, type RateLimits } from '../../edge/rate-limit.js';
import type { Closable } from '../../edge/refusal-delay.js';
import { AppError } from '../../errors.js';
import { RefusalSampler } from '../../audit/sampler.js';
import { pathOf } from '../request-log.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client address resolved from the socket and trusted proxies only (EDGE-1). */
    clientIp: string;
    /** The client reached us over HTTPS: a TLS socket, or a trusted proxy says so (EDGE-5). */
    viaHttps: boolean;
    /** The rate budgets read for this request, reused by the per-user budget. */
    rateLimits: RateLimits | null;
  }
  interface FastifyContextConfig {
    /** Budget of the route; absent: read for GET and HEAD, write otherwise. 'none' for health probes. */
    rateLimit?: Bucket | 'none';
    /** IP and country rules do not apply (health probes). */
    edgeExempt?: boolean;
    /** The admin scope of the IP rules applies (the admin UI's pages under /admin/). */
    adminScope?: boolean;
  }
}

/** The client's connection, whose closing ends a held refusal early (D451); absent for an injected request without one. */
export function connectionOf(req: FastifyRequest): Closable | undefined {
  const socket = req.raw.socket as Partial<Closable> | undefined;
  return typeof socket?.once === 'function' && typeof socket.off === 'function' ? (socket as Closable) : undefined;
}

export function bucketOf(req: FastifyRequest): Bucket | 'none' {
  return req.routeOptions.config.rateLimit ?? (req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write');
}

/**
 * Whether the per-user budget will be taken after authentication (`consumeUserBudget`): then it alone sets the
 * RateLimit headers, and the address's budget, counted here all the same, does not set them first (issue 14: three
 * headers fewer to write per request). A request refused by authentication answers without them.
 */
function userBudgetFollows(req: FastifyRequest, bucket: Bucket): boolean {
  return (req.routeOptions.config.auth ?? 'user') !== 'public' && bucket !== 'auth' && bucket !== 'reset';
}

function setBudgetHeaders(reply: FastifyReply, b: Budget | null): void {
  if (!b) return;
  reply.header('ratelimit-limit', String(b.limit));
  reply.header('ratelimit-remaining', String(b.remaining));
  reply.header('ratelimit-reset', String(b.resetSeconds));
}

/**
 * Whether the admin scope of the IP rules applies. Decided on the route the router matched (its
 * pattern and config), never on the raw URL: percent-encoding, absolute-form targets and other
 * spellings reach the same route and so the same decision. A request that matched no route is
 * treated as admin (fail closed): it reaches no handler, and a blocked address learns nothing.
 */
export function isAdminRoute(req: FastifyRequest): boolean {
  const pattern = req.routeOptions.url;
  if (pattern === undefined) return true;
  const c = req.routeOptions.config;
  return c.auth === 'admin' || c.permission !== undefined || c.adminScope === true || pattern === '/api/admin' || pattern.startsWith('/api/admin/');
}

/**
 * The routes under `/api/` that a browser opens as a page or a provider's form posts to, which forced HTTPS
 * redirects: the single sign-on start, callback, SAML assertion and logout endpoints and metadata, and signed
 * download links. Every other API route (the LDAP sign-in that posts a password, account links included) is refused.
 */
const BROWSER_API_ROUTES = new Set([
  '/api/auth/sso/:provider/start',
  '/api/auth/sso/:provider/callback',
  '/api/auth/sso/:provider/acs',
  '/api/auth/sso/:provider/saml/slo',
  '/api/auth/sso/:provider/saml/metadata',
]);

/**
 * An API request, which forced HTTPS refuses rather than redirects (D384): every route under `/api/` but those a
 * browser opens (BROWSER_API_ROUTES, signed download links). Decided on the matched route's pattern; a request that
 * matched none, on its path (and so refused).
 */
export function isApiRequest(req: FastifyRequest): boolean {
  const p = req.routeOptions.url ?? pathOf(pathAndQuery(req.url));
  return (p === '/api' || p.startsWith('/api/')) && !BROWSER_API_ROUTES.has(p) && !p.startsWith('/api/files/signed/');
}

/**
 * The first stages of the pipeline, before authentication: client IP, IP and country rules,
 * then the per-address rate limit. The per-user budget is taken right after authentication.
 */
export function registerEdge(app: FastifyInstance, s: Services): void {
  // Rejections are logged as security events, at most once a minute per address and 60 a minute in all.
  const sampler = new RefusalSampler();
  app.decorateRequest('clientIp', '');
  app.decorateRequest('viaHttps', false);
  app.decorateRequest('rateLimits', null);
  const proxies = { trustedProxies: s.config.trustedProxies, header: s.config.clientIpHeader };
  // Closing waits for the requests in flight: held refusals are answered now, not at the end of their delay (D451).
  app.addHook('preClose', async () => {
    s.rateLimiter.delay.releaseAll();
  });
  let protoMissingLogged = false;
  /** The IP and country rules' answer: a refusal is logged (sampled) and thrown; none passes. */
  const refuse = async (req: FastifyRequest, refusal: string): Promise<never> => {
    if (sampler.take(req.clientIp, s.now())) {
      const ua = req.headers['user-agent'];
      await s.securityLog.record(
        { actor: { id: null, name: 'anonymous' }, ip: req.clientIp, userAgent: typeof ua === 'string' ? ua : null, requestId: req.id },
        {
          type: 'ip.rejected',
          outcome: 'failure',
          details: { refusal, method: req.method, route: req.routeOptions.url ?? null, path: pathOf(req.url).slice(0, 200) },
        },
      );
    }
    throw new AppError('IP_BLOCKED', undefined, refusal);
  };
  /** The per-address budget under `limits`: without a promise when the window is kept (issue 14). */
  const take = (req: FastifyRequest, reply: FastifyReply, bucket: Bucket, bytes: number, limits: RateLimits): Promise<void> | undefined => {
    req.rateLimits = limits;
    const key = ipBudgetKey(req.clientIp);
    const headers = !userBudgetFollows(req, bucket);
    const now = s.rateLimiter.consumeNow(bucket, 'ip', key, bytes, limits);
    if (now !== undefined) {
      if (headers) setBudgetHeaders(reply, now);
      return undefined;
    }
    return s.rateLimiter.consume(bucket, 'ip', key, bytes, limits, connectionOf(req)).then((b) => {
      if (headers) setBudgetHeaders(reply, b);
    });
  };
  const budget = (req: FastifyRequest, reply: FastifyReply): Promise<void> | undefined => {
    const bucket = bucketOf(req);
    if (bucket === 'none') return undefined;
    const bytes = bucket === 'upload' ? uploadBytes(req, s) : 0;
    const limits = s.rateLimiter.limitsNow();
    return limits !== undefined ? take(req, reply, bucket, bytes, limits) : s.rateLimiter.limits().then((l) => take(req, reply, bucket, bytes, l));
  };
  /**
   * The stages in order. Each takes what is kept without waiting and returns a promise only where it must wait, so a
   * request whose rules and budgets are kept passes without a turn of the event loop (issue 14). `true`: answered here.
   */
  const stages = (req: FastifyRequest, reply: FastifyReply): Promise<void> | undefined | true => {
    req.clientIp = resolveClientIp(req.socket.remoteAddress, req.headers, proxies);
    const scheme = requestScheme('encrypted' in req.socket && req.socket.encrypted === true, req.socket.remoteAddress, req.headers, proxies);
    req.viaHttps = scheme === 'https';
    // A trusted proxy that does not say which scheme the client used: served as it comes (a redirect would
    // loop), and said once in the log (`palisade doctor` cannot see requests).
    if (scheme === 'unknown' && s.config.forceHttpsTo !== null && !protoMissingLogged) {
      protoMissingLogged = true;
      req.log.warn(
        { event: 'https.proto_missing', header: s.config.clientIpHeader === 'forwarded' ? 'forwarded proto=' : 'x-forwarded-proto' },
        'a trusted proxy sent no scheme: HTTPS cannot be forced for its requests; make it send X-Forwarded-Proto',
      );
    }
    // Forced HTTPS: a plain-HTTP request goes to the same path and query on PUBLIC_URL's origin, before
    // anything else reads it; 308 keeps an unsafe method and its body. Health probes stay on HTTP. The API
    // is refused instead: no transparent redirect hides a client that sends its requests in plain (D384).
    if (s.config.forceHttpsTo !== null && scheme === 'http' && !req.routeOptions.config.edgeExempt) {
      if (isApiRequest(req)) throw new AppError('HTTPS_REQUIRED');
      const safe = req.method === 'GET' || req.method === 'HEAD';
      reply
        .code(safe ? 301 : 308)
        .header('location', `${s.config.forceHttpsTo}${pathAndQuery(req.url)}`)
        .header('connection', 'close')
        .send();
      return true;
    }
    if (req.routeOptions.config.edgeExempt) return budget(req, reply);
    const admin = isAdminRoute(req);
    const now = s.ipRules.checkNow(req.clientIp, admin);
    if (now === undefined) return s.ipRules.check(req.clientIp, admin).then((refusal) => (refusal ? refuse(req, refusal) : budget(req, reply)));
    return now ? refuse(req, now) : budget(req, reply);
  };
  app.addHook('onRequest', (req, reply, done) => {
    let pending: Promise<void> | undefined | true;
    try {
      pending = stages(req, reply);
    } catch (e) {
      return done(e as Error);
    }
    // Answered (a redirect): Fastify goes on from the reply, not from this hook.
    if (pending === true) return;
    if (pending === undefined) return done();
    pending.then(
      () => done(),
      (e: Error) => done(e),
    );
  });
}

/**
 * The path and query of a request target, whatever its form: an absolute-form target
 * (`GET http://other.example/x`) keeps only its path and query, so a redirect never leaves PUBLIC_URL's origin.
 */
export function pathAndQuery(target: string): string {
  if (target.startsWith('/')) return target;
  try {
    const u = new URL(target);
    return `${u.pathname}${u.search}`;
  } catch {
    return '/';
  }
}

/**
 * Bytes an upload is charged: its declared length, capped at the body limit (the route's own, such as a file
 * upload's, else the server's); unknown (chunked) counts as the limit.
 */
function uploadBytes(req: FastifyRequest, s: Services): number {
  const limit = req.routeOptions.bodyLimit ?? s.config.bodyLimit;
  const n = Number(req.headers['content-length']);
  return Number.isSafeInteger(n) && n >= 0 ? Math.min(n, limit) : limit;
}

/** The per-user budget, taken once the user is known. */
export function consumeUserBudget(req: FastifyRequest, reply: FastifyReply, s: Services, userId: string): Promise<void> | undefined {
  const bucket = bucketOf(req);
  if (bucket === 'none' || bucket === 'auth' || bucket === 'reset') return undefined;
  const bytes = bucket === 'upload' ? uploadBytes(req, s) : 0;
  const now = req.rateLimits ? s.rateLimiter.consumeNow(bucket, 'user', userId, bytes, req.rateLimits) : undefined;
  if (now !== undefined) {
    setBudgetHeaders(reply, now);
    return undefined;
  }
  return s.rateLimiter.consume(bucket, 'user', userId, bytes, req.rateLimits ?? undefined, connectionOf(req)).then((b) => setBudgetHeaders(reply, b));
}
