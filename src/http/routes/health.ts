import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../../services.js';
import { ping } from '../../db/index.js';

/** /healthz: the process answers. /readyz: the database (and Redis, when used) answer. */
export const healthRoutes = (s: Services): FastifyPluginAsync => async (app) => {
  app.get('/healthz', { config: { auth: 'public', rateLimit: 'none', edgeExempt: true }, schema: { tags: ['health'] } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { auth: 'public', rateLimit: 'none', edgeExempt: true }, schema: { tags: ['health'] } }, async (_req, reply) => {
    const [database, shared] = await Promise.all([ping(s.db), s.shared.ping()]);
    const ok = database && shared;
    reply.code(ok ? 200 : 503);
    return { status: ok ? 'ready' : 'unavailable', checks: { database: database ? 'ok' : 'down', [s.shared.kind === 'redis' ? 'redis' : 'sharedState']: shared ? 'ok' : 'down' } };
  });
};
