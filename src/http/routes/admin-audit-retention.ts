import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { auditLogArea } from '../../audit-settings.js';
import { RETENTION_KINDS } from '../../audit/retention.js';
import { errorResponses } from '../schemas.js';
import { actorContext, requireAuth } from '../pipeline/authenticate.js';
import { AppError } from '../../errors.js';
import { settingsRoutes } from './admin-security.js';

const KindResultSchema = Type.Object({
  kind: Type.String({ enum: [...RETENTION_KINDS] }),
  days: Type.Integer({ description: 'The retention of this log; 0: kept forever (nothing removed).' }),
  before: Type.Union([Type.String(), Type.Null()], { description: 'The cut-off: entries older than it were removed (or would be, in a dry run).' }),
  removed: Type.Integer(),
  archive: Type.Union([Type.String(), Type.Null()], { description: 'The file in DATA_DIR/audit-archive the removed entries were appended to.' }),
});

/** The `auditLog` settings area and running retention now, under /api/admin (security.manage). */
export const adminAuditRetentionRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();

    settingsRoutes(
      plain,
      s,
      '/settings/audit-log',
      auditLogArea,
      "The security event log's hidden sign-ins and the retention of each audit log in days (0: forever). Shortening a retention or hiding sign-ins weakens the evidence: administrators only.",
      // Removing evidence sooner, or recording less, is for administrators: a security.manage holder
      // could otherwise shorten retention and prune their own traces.
      async (after, req) => {
        if (requireAuth(req).user.is_admin === 1) return;
        const now = await s.settings.get(auditLogArea);
        const shorter = (['securityDays', 'changeDays', 'statusDays', 'accessDays'] as const).some(
          (k) => after[k] !== 0 && (now[k] === 0 || after[k] < now[k]),
        );
        if (shorter || (after.hideOrdinarySignIns && !now.hideOrdinarySignIns))
          throw new AppError('FORBIDDEN', undefined, 'weakening audit retention needs an administrator');
      },
    );

    app.post(
      '/audit/prune',
      {
        // Removing entries now is for administrators (see the settings guard above), signed in recently (D432).
        config: { auth: 'admin' as const, recentAuth: true },
        schema: {
          tags: ['admin: audit'],
          description:
            "Administrators only. Runs audit retention now (it also runs daily): removes the entries older than each log's retention, archiving them first when `archive` is set; each batch is recorded on the chain (operation retention), so verify still passes. With dryRun: counts only. The system log is never pruned.",
          body: Type.Optional(Type.Object({ dryRun: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
          response: { 200: Type.Object({ dryRun: Type.Boolean(), kinds: Type.Array(KindResultSchema) }), ...errorResponses },
        },
      },
      async (req) => {
        const r = await s.auditRetention.run(actorContext(req), { dryRun: req.body?.dryRun ?? false });
        return { dryRun: r.dryRun, kinds: r.kinds.map((k) => ({ ...k, before: k.before === null ? null : new Date(k.before).toISOString() })) };
      },
    );
  };
