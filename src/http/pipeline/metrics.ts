import { createHash, timingSafeEqual } from 'node:crypto';
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { RouteServices as Services } from '../../services.js';
import { AppError } from '../../errors.js';
import { inAny, parseIp } from '../../edge/ip.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Counts every answer (route pattern, status, latency) and serves `GET /metrics` in Prometheus's text
 * format. Off unless METRICS_TOKEN or METRICS_ALLOW is set: then the token (`Authorization: Bearer`,
 * compared in constant time) and the address list (the client address as resolved from trusted
 * proxies) are both required where given. Off, `/metrics` is a 404 like any unknown path and no answer
 * is counted; refused, it is the same 404.
 */
export function registerMetrics(app: FastifyInstance, s: Services): void {
  const guard = s.config.metrics;
  // Nothing can read the counts while metrics are off (the configuration is read at start): no request pays for them.
  if (guard !== null)
    app.addHook('onResponse', (req, reply, done) => {
      s.metrics.request(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  const expected = guard?.token ? digest(guard.token) : null;
  app.get(
    '/metrics',
    { schema: { hide: true, querystring: Type.Object({}, { additionalProperties: false }) }, config: { auth: 'public', rateLimit: 'read' } },
    async (req, reply) => {
      if (guard === null) throw new AppError('NOT_FOUND');
      if (guard.allow.length > 0) {
        const ip = parseIp(req.clientIp);
        if (!ip || !inAny(ip, guard.allow)) throw new AppError('NOT_FOUND', undefined, 'metrics: address not in METRICS_ALLOW');
      }
      if (expected !== null) {
        const m = /^Bearer ([^\s]+)$/.exec(req.headers.authorization ?? '');
        if (!m || !timingSafeEqual(digest(m[1]!), expected)) throw new AppError('NOT_FOUND', undefined, 'metrics: no or wrong METRICS_TOKEN');
      }
      reply.header('content-type', s.metrics.contentType);
      return s.metrics.text();
    },
  );
}
