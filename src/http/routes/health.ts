import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../../services.js';
import { probeDatabase } from '../../db/index.js';
import { OUTAGE_RETRY_AFTER } from '../../db/errors.js';

type DatabaseCheck = Awaited<ReturnType<typeof probeDatabase>>;

/**
 * /healthz: the process answers. /readyz: each dependency, by name: `database` is `ok`, `down`
 * (unreachable) or `unwritable` (full or read-only disk, its probe write or a recent real write
 * failed); `redis` (or `sharedState` without Redis) is `ok` or `down`. The checks run at most once
 * a second per instance, so a flood of probes cannot become a flood of writes.
 */
export const healthRoutes = (s: Services): FastifyPluginAsync => async (app) => {
  let last: { at: number; value: Promise<{ database: DatabaseCheck; shared: boolean }> } | null = null;
  const checks = () => {
    const t = Date.now();
    if (!last || t - last.at >= 1000) {
      last = { at: t, value: Promise.all([probeDatabase(s.db, s.storage, s.now()), s.shared.ping()]).then(([database, shared]) => ({ database, shared })) };
    }
    return last.value;
  };
  app.get('/healthz', { config: { auth: 'public', rateLimit: 'none', edgeExempt: true }, schema: { tags: ['health'] } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { auth: 'public', rateLimit: 'none', edgeExempt: true }, schema: { tags: ['health'] } }, async (_req, reply) => {
    const { database, shared } = await checks();
    const ok = database === 'ok' && shared;
    reply.code(ok ? 200 : 503);
    if (!ok) reply.header('retry-after', String(OUTAGE_RETRY_AFTER));
    return { status: ok ? 'ready' : 'unavailable', checks: { database, [s.shared.kind === 'redis' ? 'redis' : 'sharedState']: shared ? 'ok' : 'down' } };
  });
};
