import path from 'node:path';
import { durationVar } from './config/env.js';
import type { ConfigSection } from './config/index.js';

/** Signed checkpoints of the audit chain (AUDIT-6). */
export interface AuditConfig {
  /** AUDIT_CHECKPOINT_INTERVAL in ms: how often the chain's head is signed when it has moved (0: only on demand). */
  readonly checkpointIntervalMs: number;
  /** AUDIT_CHECKPOINT_FILE: where each checkpoint is appended as a JSON line (keep it off the database host); null: none. */
  readonly checkpointFile: string | null;
}

/** AUDIT_CHECKPOINT_INTERVAL, AUDIT_CHECKPOINT_FILE. */
export const auditEnv: ConfigSection<{ audit: AuditConfig }> = {
  read(env, problems) {
    const seconds = env.AUDIT_CHECKPOINT_INTERVAL === '0' ? 0 : durationVar(env, 'AUDIT_CHECKPOINT_INTERVAL', 3600, 1, problems, 31 * 86400);
    const file = env.AUDIT_CHECKPOINT_FILE || null;
    if (file !== null && !path.isAbsolute(file)) problems.push('AUDIT_CHECKPOINT_FILE must be an absolute path');
    return { audit: { checkpointIntervalMs: seconds * 1000, checkpointFile: file } };
  },
};
