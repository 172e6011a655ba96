import type { FastifyPluginAsync } from 'fastify';
import type { RouteServices as Services } from '../../services.js';

/** /healthz: the process answers. /readyz: each dependency by name (src/ops/readiness.ts). */
export const healthRoutes =
  (s: Services): FastifyPluginAsync =>
  async (app) => {
    app.get('/healthz', { config: { auth: 'public', rateLimit: 'none', edgeExempt: true }, schema: { tags: ['health'] } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { config: { auth: 'public', rateLimit: 'none', edgeExempt: true }, schema: { tags: ['health'] } }, async (_req, reply) => {
      const r = await s.readiness.check();
      reply.code(r.ready ? 200 : 503);
      if (!r.ready) reply.header('retry-after', String(r.retryAfter));
      return { status: r.ready ? 'ready' : 'unavailable', checks: r.checks };
    });
  };
