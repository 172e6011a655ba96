// The backups screen's client logic (pure; unit-tested in test/ui/backups.test.ts): the answers of
// GET and POST /api/admin/backups (DATA-2), sizes and the copy state in words, the refusals in words.
import { ApiError, describeError } from './api';

export type CopyState = 'off' | 'copied' | 'failed';

/** The configuration and the last backup, as GET /api/admin/backups answers them: never a passphrase or S3 secret. */
export interface BackupStatus {
  configured: boolean;
  /** BACKUP_SCHEDULE (cron, UTC), or null: no backup on schedule. */
  schedule: string | null;
  nextRun: string | null;
  /** The bucket and prefix archives are copied to, or null: no copy. */
  s3: string | null;
  keepDaily: number;
  keepWeekly: number;
  last: { at: string; name: string; size: number; copy: CopyState } | null;
  /** BACKUP_VERIFY: each backup restored into a scratch place and checked as soon as it is made. */
  verify: boolean;
  lastVerified: { at: string; name: string; ok: boolean; backupAt: string | null } | null;
}

export interface BackupFile {
  name: string;
  size: number;
  createdAt: string;
}

export interface BackupList {
  status: BackupStatus;
  backups: BackupFile[];
}

/** The answer of "Back up now". */
export interface BackupMade extends BackupFile {
  copy: { state: CopyState; where?: string; error?: string };
  verified: { ok: boolean; code?: string; reason?: string } | null;
  removed: string[];
}

/** Bytes for people: 912 B, 4.2 KB, 31.0 MB, 1.20 GB (powers of 1024, as `palisade backup list`). */
export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

export const COPY_TEXT: Record<CopyState, string> = { copied: 'Copied to S3', failed: 'Copy failed', off: 'No copy (S3 not set)' };
export const COPY_BADGE: Record<CopyState, string> = { copied: 'green', failed: 'red', off: 'grey' };

/** The retention in words: "the newest of each of the last 7 days and of the last 4 weeks". */
export function retentionText(s: Pick<BackupStatus, 'keepDaily' | 'keepWeekly'>): string {
  const days = `the last ${s.keepDaily} day${s.keepDaily === 1 ? '' : 's'}`;
  if (s.keepWeekly === 0) return `The newest backup of each of ${days} is kept; older archives are removed after each backup.`;
  const weeks = `the last ${s.keepWeekly} week${s.keepWeekly === 1 ? '' : 's'}`;
  return `The newest backup of each of ${days} and of each of ${weeks} is kept; older archives are removed after each backup.`;
}

/** What a finished backup says: its name and size, where its copy went, what the retention removed. */
export function madeText(b: BackupMade): string {
  const copy =
    b.copy.state === 'copied' ? ` Copied to ${b.copy.where}.` : b.copy.state === 'failed' ? ` The copy to ${b.copy.where} failed: ${b.copy.error}` : '';
  const verified =
    b.verified === null
      ? ''
      : b.verified.ok
        ? ' Verified: it restores, with every row and an intact audit chain.'
        : ` It did NOT verify: ${b.verified.reason}.`;
  const removed = b.removed.length === 0 ? ' Nothing removed by retention.' : ` Removed by retention: ${b.removed.join(', ')}.`;
  return `Backup ${b.name} written (${sizeText(b.size)}).${verified}${copy}${removed}`;
}

/** The server's refusals in words. */
export function backupMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'FORBIDDEN') return 'Only administrators may see and make backups.';
    if (e.code === 'BACKUP_NOT_CONFIGURED') return 'Backups are not configured: set BACKUP_PASSPHRASE (or BACKUP_PASSPHRASE_FILE) and restart Palisade.';
    if (e.code === 'BACKUP_BUSY') return 'Another backup is being made (here or on another instance). Try again when it is done.';
    if (e.code === 'RATE_LIMITED') return 'Too many backups in a short time: wait a little and try again.';
  }
  return describeError(e);
}
