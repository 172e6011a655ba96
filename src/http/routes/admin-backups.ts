import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { BackupStatus } from '../../backup/index.js';
import { errorResponses } from '../schemas.js';
import { actorContext } from '../pipeline/authenticate.js';

const COPY_STATES = ['off', 'copied', 'failed'] as const;

/** An archive as listed: its file name (never its path), size and creation time. */
const BackupFileSchema = Type.Object(
  { name: Type.String(), size: Type.Integer({ description: 'Bytes.' }), createdAt: Type.String({ description: 'ISO 8601.' }) },
  { additionalProperties: false },
);

/** What the screen shows of the configuration: no passphrase and no S3 credential has a place here. */
const StatusSchema = Type.Object(
  {
    configured: Type.Boolean({ description: 'false: BACKUP_PASSPHRASE (or BACKUP_PASSPHRASE_FILE) is not set; no backup can be made.' }),
    schedule: Type.Union([Type.String(), Type.Null()], { description: 'BACKUP_SCHEDULE, a cron expression in UTC.' }),
    nextRun: Type.Union([Type.String(), Type.Null()], { description: 'The next scheduled run, ISO 8601.' }),
    s3: Type.Union([Type.String(), Type.Null()], { description: 'The bucket and prefix each archive is copied to (BACKUP_S3_*).' }),
    keepDaily: Type.Integer(),
    keepWeekly: Type.Integer(),
    last: Type.Union([
      Type.Object(
        {
          at: Type.String({ description: 'ISO 8601.' }),
          name: Type.String(),
          size: Type.Integer(),
          copy: Type.String({ enum: [...COPY_STATES] }),
        },
        { additionalProperties: false, description: 'The last backup by any instance, as the security log records it (backup.created).' },
      ),
      Type.Null(),
    ]),
    verify: Type.Boolean({ description: 'BACKUP_VERIFY: each backup is restored into a scratch place and checked as soon as it is made.' }),
    lastVerified: Type.Union([
      Type.Object(
        {
          at: Type.String({ description: 'ISO 8601.' }),
          name: Type.String(),
          ok: Type.Boolean(),
          backupAt: Type.Union([Type.String(), Type.Null()], { description: 'ISO 8601: when the verified backup was made (null for a failure).' }),
        },
        { additionalProperties: false, description: 'The last verification, as the security log records it (backup.verified).' },
      ),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
);

const VerifiedSchema = Type.Union([
  Type.Object(
    {
      ok: Type.Boolean(),
      code: Type.Optional(Type.String({ description: 'Why the new archive did not verify (an error code).' })),
      reason: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
  Type.Null(),
]);

const CopySchema = Type.Object(
  {
    state: Type.String({ enum: [...COPY_STATES] }),
    where: Type.Optional(Type.String()),
    error: Type.Optional(Type.String({ description: "The failure's name, HTTP status and message; the local archive stands." })),
  },
  { additionalProperties: false },
);

/** The status as HTTP shows it: no server path (the directory stays with `palisade backup list`), times as ISO 8601. */
const statusView = (s: BackupStatus) => ({
  configured: s.configured,
  schedule: s.schedule,
  nextRun: s.nextRun,
  s3: s.s3,
  keepDaily: s.keepDaily,
  keepWeekly: s.keepWeekly,
  last: s.last ? { ...s.last, at: new Date(s.last.at).toISOString() } : null,
  verify: s.verify,
  lastVerified: s.lastVerified
    ? {
        ...s.lastVerified,
        at: new Date(s.lastVerified.at).toISOString(),
        backupAt: s.lastVerified.backupAt === null ? null : new Date(s.lastVerified.backupAt).toISOString(),
      }
    : null,
});

/**
 * Backups (DATA-2) under /api/admin/backups: administrators only (`auth: 'admin'`: a session, never an API key),
 * since an archive holds every record, user and key. The status and list, and a backup now; no download and no
 * restore over HTTP: restore is the offline `palisade backup restore`.
 */
export const adminBackupRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['admin: backups'];

    app.get(
      '/backups',
      {
        config: { auth: 'admin' as const },
        schema: {
          tags,
          description:
            'Whether backups are configured, the schedule and next run, the S3 target, the retention, the last backup, and the archives in BACKUP_DIR, newest first.',
          querystring: Type.Object({}, { additionalProperties: false }),
          response: { 200: Type.Object({ status: StatusSchema, backups: Type.Array(BackupFileSchema) }), ...errorResponses },
        },
      },
      async () => ({ status: statusView(await s.backups.status()), backups: s.backups.list() }),
    );

    app.post(
      '/backups',
      {
        // A backup copies the whole database: it takes the export budget, and one runs at a time (BACKUP_BUSY).
        config: { auth: 'admin' as const, rateLimit: 'export' as const, recentAuth: true },
        // No body at all is an empty one (the schema alone refuses a missing body); unknown fields are still refused.
        preValidation: async (req) => {
          if (req.body === undefined) req.body = {};
        },
        schema: {
          tags,
          description:
            'Makes a backup now (`backup.created`), copies it to S3 when configured, then applies the retention (`backup.pruned`). 409 BACKUP_NOT_CONFIGURED without a passphrase, BACKUP_BUSY while another backup runs.',
          body: Type.Optional(Type.Object({}, { additionalProperties: false })),
          response: {
            201: Type.Object({
              name: Type.String(),
              size: Type.Integer(),
              createdAt: Type.String(),
              copy: CopySchema,
              verified: VerifiedSchema,
              removed: Type.Array(Type.String(), { description: 'Archives removed by the retention (in the bucket: prefixed with it).' }),
            }),
            ...errorResponses,
          },
        },
      },
      async (req, reply) => {
        const ctx = actorContext(req);
        const b = await s.backups.create(ctx);
        const removed = await s.backups.prune(ctx);
        reply.code(201);
        const verified = b.verified === null ? null : b.verified.ok ? { ok: true } : { ok: false, code: b.verified.code, reason: b.verified.reason };
        return { name: b.name, size: b.size, createdAt: b.createdAt, copy: b.copy, verified, removed };
      },
    );
  };
