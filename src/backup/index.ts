/**
 * Backups and restore (DATA-2). A backup is one encrypted archive (archive.ts) holding a manifest, the database
 * (SQLite: a copy by SQLite's online backup API; PostgreSQL: a logical export, postgres.ts) and the keys kept in
 * the data directory. A restore goes into an empty target only (or forced), checks the rows and the audit chain's
 * head against the manifest before it is done, then migrates to this release's schema. A verification restores
 * into a scratch location and walks the audit chain there.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { openSqliteFile, type Db, type Dialect } from '../db/index.js';
import { SYSTEM_ACTOR, type EventContext, type SecurityLog } from '../audit/events.js';
import { readKeyFile } from '../secrets/key.js';
import { AppError, type ErrorCode } from '../errors.js';
import type { SharedState } from '../shared-state/index.js';
import { writeArchive, type Member } from './archive.js';
import { nextRun, type BackupConfig } from './env.js';
import { FORMAT, VERSION, chainHead, countRows, latestMigration, type Manifest } from './manifest.js';
import { appKeyId, archiveName, createdAtOf, deploymentOf, isOurs, listBackups, newestFirst, retained, type BackupFile } from './names.js';
import { dumpPostgres, tableFile } from './postgres.js';
import { fileKeysOf, fileMembers } from './files.js';
import { sweepLeftovers, verifyBackup, type Checked, type Target } from './restore.js';
import type { S3Copy } from './s3.js';

export type { BackupConfig } from './env.js';
export { S3Copy } from './s3.js';
export type { Manifest } from './manifest.js';
export { deploymentOf, listBackups, type BackupFile } from './names.js';
export { restoreBackup, verifyBackup, type Checked, type Restored, type Target } from './restore.js';

export interface BackupDeps {
  db: Db;
  dialect: Dialect;
  snapshot?: (dest: string) => Promise<void>;
  target: Target;
  config: BackupConfig;
  log: SecurityLog;
  /** Claims shared by the instances: one backup at a time, one instance per scheduled run. */
  shared: Pick<SharedState, 'setIfAbsent' | 'set' | 'getValue' | 'del'>;
  /** The copy to an S3-compatible bucket, when BACKUP_S3_BUCKET is set. */
  s3: S3Copy | null;
  now: () => number;
  version: string;
  /** A scheduled run that failed (the system log). */
  onError: (err: unknown) => void;
}

/** Where a backup's copy went. */
export type CopyState = { state: 'off' } | { state: 'copied'; where: string } | { state: 'failed'; where: string; error: string };

export interface Created extends BackupFile {
  file: string;
  manifest: Manifest;
  copy: CopyState;
  /** The archive restored into a scratch place and checked right after it was made (BACKUP_VERIFY), or null. */
  verified: Verified | null;
}

/** A verification's outcome: what was checked, or the code and reason of the refusal. */
export type Verified = { ok: true; checked: Checked } | { ok: false; code: ErrorCode; reason: string };

/** The last verification, as the security log tells it. */
export interface LastVerified {
  at: number;
  name: string;
  ok: boolean;
  /** When the verified backup itself was made (its manifest's time); null for a failed verification. */
  backupAt: number | null;
}

/** An event's details, as either dialect returns them (text on SQLite, JSON on PostgreSQL). */
const detailsOf = (details: unknown): Record<string, unknown> =>
  (typeof details === 'string' ? JSON.parse(details) : (details ?? {})) as Record<string, unknown>;

/** The last backup, as the security log tells it (every instance's). */
export interface LastBackup {
  at: number;
  name: string;
  size: number;
  copy: 'off' | 'copied' | 'failed';
}

export interface BackupStatus {
  configured: boolean;
  schedule: string | null;
  nextRun: string | null;
  dir: string;
  /** This deployment's mark in archive names. */
  deployment: string;
  s3: string | null;
  keepDaily: number;
  keepWeekly: number;
  last: LastBackup | null;
  /** Whether each backup is verified as soon as it is made (BACKUP_VERIFY). */
  verify: boolean;
  lastVerified: LastVerified | null;
}

const RUNNING_KEY = 'backup:running';
/** The running claim lapses this long after its last renewal: a backup whose process died blocks no one for long. */
const RUNNING_TTL_MS = 10 * 60_000;
const HEARTBEAT_MS = 60_000;

/** Makes backups (on demand and on schedule), copies them to S3, lists them and applies the retention. */
export class BackupService {
  private timer: NodeJS.Timeout | null = null;
  private scheduled: Promise<unknown> | null = null;
  /** This deployment's mark in archive names (names.ts). */
  private readonly deployment: string;
  constructor(private readonly d: BackupDeps) {
    this.deployment = deploymentOf(d.target.appKey);
  }

  get configured(): boolean {
    return this.d.config.passphrase !== null;
  }

  async create(ctx: EventContext): Promise<Created> {
    const passphrase = this.d.config.passphrase;
    if (passphrase === null) throw new AppError('BACKUP_NOT_CONFIGURED');
    const claim = randomBytes(8).toString('hex');
    if (!(await this.d.shared.setIfAbsent(RUNNING_KEY, claim, RUNNING_TTL_MS))) throw new AppError('BACKUP_BUSY');
    const beat = setInterval(() => void this.d.shared.set(RUNNING_KEY, claim, RUNNING_TTL_MS).catch(() => undefined), HEARTBEAT_MS);
    beat.unref();
    try {
      // With the claim held no other backup runs: what a crashed one left is swept (a restore's older than a day).
      sweepLeftovers([this.d.target.dataDir, this.d.config.dir], this.d.now() + 1);
      sweepLeftovers([path.join(this.d.target.dataDir, '.restore')], this.d.now() - 86_400_000);
      return await this.make(passphrase, ctx);
    } finally {
      clearInterval(beat);
      // Released only while it is still ours (a lapsed claim may have passed to another instance).
      if ((await this.d.shared.getValue(RUNNING_KEY).catch(() => null)) === claim) await this.d.shared.del(RUNNING_KEY).catch(() => undefined);
    }
  }

  private async make(passphrase: string, ctx: EventContext): Promise<Created> {
    const dir = this.d.config.dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The plain copy is staged in the data directory, never in BACKUP_DIR (which may be a share or a synced folder).
    mkdirSync(this.d.target.dataDir, { recursive: true, mode: 0o700 });
    const staging = await mkdtemp(path.join(this.d.target.dataDir, '.staging-'));
    try {
      const t = this.d.target;
      // The keys are read before the database: a key rotation meanwhile is caught below, not archived half-way.
      const keys = { app: t.appKeySource === 'generated', secrets: t.secretsKeyFile !== null && existsSync(t.secretsKeyFile) };
      const secretsKey = keys.secrets ? readFileSync(t.secretsKeyFile as string) : null;
      const members: Member[] = [];
      let facts: Pick<Manifest, 'migration' | 'tables' | 'chain'>;
      let fileKeys: string[] = [];
      if (this.d.dialect === 'sqlite') {
        if (!this.d.snapshot) throw new TypeError('a SQLite handle without snapshot');
        const file = path.join(staging, 'palisade.db');
        await this.d.snapshot(file);
        const copy = openSqliteFile(file, { readonly: true });
        try {
          facts = { migration: await latestMigration(copy), tables: await countRows(copy, 'sqlite'), chain: await chainHead(copy) };
          fileKeys = await fileKeysOf('sqlite', copy, staging);
        } finally {
          await copy.destroy();
        }
        members.push({ name: 'db/palisade.db', file });
      } else {
        facts = await dumpPostgres(this.d.db, staging);
        for (const name of Object.keys(facts.tables)) members.push({ name: `db/tables/${name}.jsonl`, file: tableFile(staging, name) });
        fileKeys = await fileKeysOf('postgres', null, staging);
      }
      // The stored files of the copy's rows (DATA-3).
      const stored = t.filesInBucket ? { members: [], keys: [], missing: 0 } : fileMembers(t.filesDir, fileKeys);
      members.push(...stored.members);
      if (secretsKey !== null && t.secretsKeyFile !== null) {
        const archived = readKeyFile(t.secretsKeyFile).id;
        const inDb = await this.secretsKeyIdIn(staging);
        if (inDb !== null && inDb !== archived)
          throw new AppError('BACKUP_BUSY', { reason: 'the secrets key was rotated while the backup was made; make it again' });
      }
      if (keys.app) members.push({ name: 'keys/app.key', data: Buffer.from(`${t.appKey}\n`) });
      if (secretsKey !== null) members.push({ name: 'keys/secrets.key', data: secretsKey });
      const at = this.d.now();
      const manifest: Manifest = {
        format: FORMAT,
        version: VERSION,
        createdAt: new Date(at).toISOString(),
        palisade: this.d.version,
        dialect: this.d.dialect,
        ...facts,
        keys,
        appKeyId: appKeyId(t.appKey),
        files: { keys: stored.keys, missing: stored.missing },
      };
      members.unshift({ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest, null, 2)) });
      let name = archiveName(at, this.deployment, 1);
      for (let i = 2; existsSync(path.join(dir, name)); i++) name = archiveName(at, this.deployment, i);
      const file = path.join(dir, name);
      const size = await writeArchive(file, passphrase, members);
      const copy = await this.copy(file);
      const rows = Object.values(facts.tables).reduce((a, b) => a + b, 0);
      await this.d.log.record(ctx, {
        type: 'backup.created',
        outcome: 'success',
        details: { name, size, tables: Object.keys(facts.tables).length, rows, files: stored.keys.length, filesMissing: stored.missing, copy: copy.state },
      });
      if (copy.state === 'failed')
        await this.d.log.record(ctx, { type: 'backup.copy_failed', outcome: 'failure', details: { name, where: copy.where, error: copy.error } });
      const verified = this.d.config.verify ? await this.verify(file, passphrase, ctx) : null;
      return { name, size, createdAt: manifest.createdAt, file, manifest, copy, verified };
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /** The secret store's current key id as the copy of the database holds it, or null when none is recorded. */
  private async secretsKeyIdIn(staging: string): Promise<string | null> {
    if (this.d.dialect === 'sqlite') {
      const copy = openSqliteFile(path.join(staging, 'palisade.db'), { readonly: true });
      try {
        return (await sql<{ k: string }>`select key_id as k from secrets_key where id = 1`.execute(copy)).rows[0]?.k ?? null;
      } finally {
        await copy.destroy();
      }
    }
    const line = readFileSync(tableFile(staging, 'secrets_key'), 'utf8').split('\n')[0];
    return line ? String((JSON.parse(line) as { key_id?: unknown }).key_id ?? '') || null : null;
  }

  /**
   * Restores an archive into a scratch place and checks it (verifyBackup), recorded as `backup.verified` with its
   * outcome; a refused archive is an answer, not an error. The deployment itself is not touched.
   */
  async verify(file: string, passphrase: string, ctx: EventContext): Promise<Verified> {
    const name = path.basename(file);
    let v: Verified;
    try {
      const checked = await verifyBackup(file, passphrase, this.d.target);
      v = checked.chain.ok
        ? { ok: true, checked }
        : { ok: false, code: 'BACKUP_ARCHIVE_INVALID', reason: `the audit chain in the backup is broken at ${checked.chain.problem}` };
      if (v.ok) {
        const rows = Object.values(checked.counts).reduce((a, b) => a + b, 0);
        await this.d.log.record(ctx, {
          type: 'backup.verified',
          outcome: 'success',
          details: { name, createdAt: checked.manifest.createdAt, rows, entries: checked.chain.entries },
        });
        return v;
      }
    } catch (e) {
      // Any failure is a failed verification, recorded: an environment that cannot verify (no right to create the
      // scratch schema, a full disk) must show in the doctor, and must not cost the backup or its retention.
      if (e instanceof AppError) {
        const reason = (e.details as { reason?: unknown } | undefined)?.reason;
        v = { ok: false, code: e.code, reason: typeof reason === 'string' ? reason : e.message };
      } else v = { ok: false, code: 'BACKUP_VERIFY_FAILED', reason: e instanceof Error ? e.message.slice(0, 300) : 'error' };
    }
    await this.d.log.record(ctx, { type: 'backup.verified', outcome: 'failure', details: { name, code: v.code, reason: v.reason } });
    return v;
  }

  /** Copies an archive to the bucket; a failure is reported, never thrown: the local backup stands. */
  private async copy(file: string): Promise<CopyState> {
    const s3 = this.d.s3;
    if (!s3) return { state: 'off' };
    try {
      await s3.upload(file);
      return { state: 'copied', where: s3.where };
    } catch (e) {
      return { state: 'failed', where: s3.where, error: s3Error(e) };
    }
  }

  /** The archives in the backup directory, newest first. */
  list(): BackupFile[] {
    return listBackups(this.d.config.dir, this.deployment);
  }

  /**
   * Keeps the newest backup of each of the last `keepDaily` days and of the last `keepWeekly` weeks, in the
   * directory and in the bucket (each by its own list); removes the other archives, and nothing else.
   */
  async prune(ctx: EventContext): Promise<string[]> {
    const { keepDaily, keepWeekly } = this.d.config;
    const all = this.list();
    const keep = retained(all, keepDaily, keepWeekly);
    const removed: string[] = [];
    for (const b of all) {
      if (keep.has(b.name)) continue;
      rmSync(path.join(this.d.config.dir, b.name), { force: true });
      removed.push(b.name);
    }
    const s3 = this.d.s3;
    if (s3) {
      try {
        const remote = newestFirst((await s3.list((n) => isOurs(n, this.deployment))).map((r) => ({ ...r, createdAt: createdAtOf(r.name) })));
        const keepRemote = retained(remote, keepDaily, keepWeekly);
        for (const r of remote) {
          if (keepRemote.has(r.name)) continue;
          await s3.remove(r.name);
          removed.push(`${s3.where}${r.name}`);
        }
      } catch (e) {
        await this.d.log.record(ctx, { type: 'backup.copy_failed', outcome: 'failure', details: { where: s3.where, error: s3Error(e), during: 'retention' } });
      }
    }
    if (removed.length > 0) await this.d.log.record(ctx, { type: 'backup.pruned', outcome: 'success', details: { removed } });
    return removed;
  }

  /** What the admin screen and the doctor show: configuration, the next scheduled run, the last backup. */
  async status(): Promise<BackupStatus> {
    const c = this.d.config;
    const next = c.schedule ? nextRun(c.schedule, new Date(this.d.now())) : null;
    const ev = await this.d.db
      .selectFrom('security_events')
      .select(['at', 'details'])
      .where('type', '=', 'backup.created')
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    const ver = await this.d.db
      .selectFrom('security_events')
      .select(['at', 'outcome', 'details'])
      .where('type', '=', 'backup.verified')
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    let lastVerified: LastVerified | null = null;
    if (ver) {
      const d = detailsOf(ver.details);
      const ok = ver.outcome === 'success';
      const made = ok && typeof d.createdAt === 'string' ? Date.parse(d.createdAt) : Number.NaN;
      lastVerified = { at: Number(ver.at), name: String(d.name ?? ''), ok, backupAt: Number.isFinite(made) ? made : null };
    }
    let last: LastBackup | null = null;
    if (ev) {
      const d = detailsOf(ev.details);
      last = { at: Number(ev.at), name: String(d.name ?? ''), size: Number(d.size ?? 0), copy: (d.copy as LastBackup['copy'] | undefined) ?? 'off' };
    }
    return {
      configured: this.configured,
      schedule: c.schedule,
      nextRun: next ? next.toISOString() : null,
      dir: c.dir,
      deployment: this.deployment,
      s3: this.d.s3?.where ?? null,
      keepDaily: c.keepDaily,
      keepWeekly: c.keepWeekly,
      last,
      verify: c.verify,
      lastVerified,
    };
  }

  /**
   * The scheduled run at `slot`: the instance that claims the slot first makes the backup and applies retention;
   * the others skip it. Answers whether this instance ran it.
   */
  async runScheduled(slot: Date): Promise<boolean> {
    if (!(await this.d.shared.setIfAbsent(`backup:slot:${slot.toISOString()}`, '1', 24 * 3_600_000))) return false;
    const ctx = { actor: SYSTEM_ACTOR };
    await this.create(ctx);
    await this.prune(ctx);
    return true;
  }

  /** Arms a timer for each run of BACKUP_SCHEDULE (the server only; CLI commands never schedule). */
  startSchedule(): void {
    const schedule = this.d.config.schedule;
    if (schedule === null || this.timer || this.d.config.passphrase === null) return;
    const arm = () => {
      const slot = nextRun(schedule, new Date(this.d.now()));
      if (!slot) return;
      // setTimeout holds at most 2^31-1 ms (24.8 days): a longer wait is re-armed on the way.
      const wait = Math.min(slot.getTime() - this.d.now(), 2 ** 31 - 1);
      this.timer = setTimeout(
        () => {
          if (this.d.now() < slot.getTime()) return arm();
          this.scheduled = this.runScheduled(slot)
            .catch(this.d.onError)
            .finally(() => {
              this.scheduled = null;
              if (this.timer) arm();
            });
        },
        Math.max(0, wait),
      );
      this.timer.unref();
    };
    arm();
  }

  /** Stops the schedule and waits for a scheduled backup in progress. */
  async stopSchedule(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.scheduled;
    this.d.s3?.close();
  }
}

/** What may be said of an S3 failure: the error's name, HTTP status and message (the SDK's carry no credential or signed URL). */
function s3Error(e: unknown): string {
  const x = e as { name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const name = typeof x?.name === 'string' ? x.name.slice(0, 80) : 'Error';
  const status = x?.$metadata?.httpStatusCode;
  const message = typeof x?.message === 'string' ? `: ${x.message.slice(0, 200)}` : '';
  return `${name}${typeof status === 'number' ? ` (HTTP ${status})` : ''}${message}`;
}
