import path from 'node:path';
import { Cron } from 'croner';
import { boolVar, intVar, secretVar } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';
import { s3TargetOf } from '../config/s3-env.js';
import type { S3Target } from '../util/s3.js';
import { MIN_PASSPHRASE } from './archive.js';

/** Backups (DATA-2): the passphrase that encrypts them, where they are written and copied, when, and how many are kept. */
export interface BackupConfig {
  /** BACKUP_PASSPHRASE or BACKUP_PASSPHRASE_FILE; null: no backup can be made (restore asks for one). */
  readonly passphrase: string | null;
  /** BACKUP_DIR, by default DATA_DIR/backups. */
  readonly dir: string;
  /** BACKUP_SCHEDULE: a cron expression (UTC) for the server's own backups; null: none on schedule. */
  readonly schedule: string | null;
  /** Retention after each backup: the newest of each of the last N days and of the last M weeks are kept. */
  readonly keepDaily: number;
  readonly keepWeekly: number;
  /** BACKUP_VERIFY: restore each new backup into a scratch place and check it right after it is made. */
  readonly verify: boolean;
  readonly s3: S3Target | null;
}

/** A schedule more frequent than this is refused: each backup is a whole copy. */
export const MIN_SCHEDULE_GAP_MS = 15 * 60_000;

/** The next time a schedule fires after `after`, or null. */
export function nextRun(schedule: string, after: Date): Date | null {
  return new Cron(schedule, { timezone: 'UTC', paused: true }).nextRun(after);
}

/** The last `n` times a schedule fired before `before`, newest first. */
export function previousRuns(schedule: string, n: number, before: Date): Date[] {
  return new Cron(schedule, { timezone: 'UTC', paused: true }).previousRuns(n, before);
}

function scheduleProblem(expr: string): string | null {
  if (!expr.startsWith('@') && expr.trim().split(/\s+/).length !== 5)
    return 'BACKUP_SCHEDULE is a cron expression of five fields (minute hour day month weekday, UTC) or @daily, @weekly…';
  try {
    const runs = new Cron(expr, { timezone: 'UTC', paused: true }).nextRuns(3, new Date(Date.UTC(2030, 0, 1)));
    if (runs.length < 2) return 'BACKUP_SCHEDULE never runs twice';
    for (let i = 1; i < runs.length; i++)
      if (runs[i]!.getTime() - runs[i - 1]!.getTime() < MIN_SCHEDULE_GAP_MS) return 'BACKUP_SCHEDULE runs more often than every 15 minutes';
    return null;
  } catch (e) {
    return `BACKUP_SCHEDULE: ${e instanceof Error ? e.message.replace(/^CronPattern: /, '') : 'not a cron expression'}`;
  }
}

export const backupEnv: ConfigSection<{ backup: BackupConfig }> = {
  read(env, problems, warnings, base) {
    const p = secretVar(env, 'BACKUP_PASSPHRASE', problems);
    if (p.value !== undefined && p.value.length < MIN_PASSPHRASE)
      problems.push(`${p.fromFile ? 'BACKUP_PASSPHRASE_FILE: the passphrase' : 'BACKUP_PASSPHRASE'} must be at least ${MIN_PASSPHRASE} characters`);
    const schedule = env.BACKUP_SCHEDULE?.trim() || null;
    if (schedule !== null) {
      const problem = scheduleProblem(schedule);
      if (problem) problems.push(problem);
      else if (p.value === undefined) problems.push('BACKUP_SCHEDULE needs BACKUP_PASSPHRASE or BACKUP_PASSPHRASE_FILE');
    }
    const s3 = s3TargetOf(env, 'BACKUP_S3', 'palisade/', problems, warnings);
    return {
      backup: {
        passphrase: p.value ?? null,
        dir: path.resolve(env.BACKUP_DIR || path.join(base.dataDir, 'backups')),
        schedule,
        keepDaily: intVar(env, 'BACKUP_KEEP_DAILY', 7, 1, 366, problems),
        keepWeekly: intVar(env, 'BACKUP_KEEP_WEEKLY', 4, 0, 520, problems),
        verify: boolVar(env, 'BACKUP_VERIFY', problems, true),
        s3,
      },
    };
  },
};
