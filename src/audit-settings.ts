/**
 * The `auditLog` settings area (AUDIT-1): whether ordinary users' successful sign-ins are recorded, and
 * how long each audit log keeps its entries. It sits at the top level, not in `audit/`: config imports
 * audit (the settings store records its events), so audit cannot import config's `defineSettingsArea`.
 * The session funnel reads `hideOrdinarySignIns`; the retention run gets the days as plain numbers
 * (`retentionPolicyOf`).
 */
import Type, { type Static } from 'typebox';
import { boolEnv, defineSettingsArea, intEnv } from './config/settings-area.js';
import type { RetentionPolicy } from './audit/retention.js';

/** At most a hundred years: longer is "keep forever", which is 0. */
export const MAX_RETENTION_DAYS = 36500;

const days = (log: string) =>
  Type.Integer({
    minimum: 0,
    maximum: MAX_RETENTION_DAYS,
    default: 0,
    unit: 'days',
    description: `Days the ${log} keeps its entries; older ones are removed by the daily retention run (itself recorded on the audit chain). 0: kept forever.`,
  });

export const AuditLogSchema = Type.Object({
  hideOrdinarySignIns: Type.Boolean({
    default: false,
    description:
      "Successful sign-ins (auth.login success) of users who are not administrators are not recorded. Administrators' sign-ins and every failure are always recorded.",
  }),
  securityDays: days('security event log'),
  changeDays: days('change log'),
  statusDays: days('status log'),
  accessDays: days('access log'),
  archive: Type.Boolean({
    default: false,
    description: 'Before removing entries, write them as JSON Lines to DATA_DIR/audit-archive/<log>-<date>.jsonl (mode 0600).',
  }),
});
export type AuditLogSettings = Static<typeof AuditLogSchema>;

export const auditLogArea = defineSettingsArea({
  key: 'auditLog',
  label: 'audit log',
  schema: AuditLogSchema,
  warnings: (v) => (v.hideOrdinarySignIns ? ['AUDIT_HIDE_ORDINARY_SIGN_INS: successful sign-ins of users who are not administrators are not recorded'] : []),
  env: [
    boolEnv('AUDIT_HIDE_ORDINARY_SIGN_INS', 'hideOrdinarySignIns'),
    intEnv('AUDIT_RETENTION_SECURITY_DAYS', 'securityDays'),
    intEnv('AUDIT_RETENTION_CHANGE_DAYS', 'changeDays'),
    intEnv('AUDIT_RETENTION_STATUS_DAYS', 'statusDays'),
    intEnv('AUDIT_RETENTION_ACCESS_DAYS', 'accessDays'),
    boolEnv('AUDIT_RETENTION_ARCHIVE', 'archive'),
  ],
});

/** The retention part of the area as the retention run takes it: days per log kind (0: forever). */
export function retentionPolicyOf(v: AuditLogSettings): RetentionPolicy {
  return {
    days: { security: v.securityDays, change: v.changeDays, status: v.statusDays, access: v.accessDays },
    archive: v.archive,
  };
}
