/**
 * Backups and restore (DATA-2). A backup is one encrypted archive (archive.ts) holding a manifest, the database
 * (SQLite: a copy by SQLite's online backup API; PostgreSQL: a logical export, postgres.ts) and the keys kept in
 * the data directory. A restore goes into an empty target only (or forced), checks the rows and the audit chain's
 * head against the manifest before it is done, then migrates to this release's schema. A verification restores
 * into a scratch location and walks the audit chain there.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { openDb, openSqliteFile, type Db, type Dialect } from '../db/index.js';
import { migrate, migrationNames } from '../db/migrations/index.js';
import { verify as verifyChain } from '../audit/chain.js';
import { SYSTEM_ACTOR, type EventContext, type SecurityLog } from '../audit/events.js';
import { keyFilePath } from '../config/index.js';
import { AppError } from '../errors.js';
import { readArchive, writeArchive, type Member } from './archive.js';
import { nextRun, type BackupConfig } from './env.js';
import type { S3Copy } from './s3.js';
import type { SharedState } from '../shared-state/index.js';
import { FORMAT, VERSION, chainHead, countDifferences, countRows, latestMigration, parseManifest, type Manifest } from './manifest.js';
import { dumpPostgres, holdsData, loadPostgres, tableFile } from './postgres.js';

export type { BackupConfig } from './env.js';
export { S3Copy } from './s3.js';
export type { Manifest } from './manifest.js';

/** What a backup or a restore needs to know of the deployment. */
export interface Target {
  dataDir: string;
  databaseUrl: string | null;
  databaseSchema: string | null;
  appKey: string;
  appKeySource: 'env' | 'file' | 'generated';
  /** The secret store's key file when it is kept in the data directory (secrets.source = data-dir). */
  secretsKeyFile: string | null;
}

/** Archive names: palisade-backup-20261201T142000Z.tar.gz.age, sortable, with a suffix when two fall in one second. */
const NAME = /^palisade-backup-(\d{8}T\d{6}Z)(?:-\d+)?\.tar\.gz\.age$/;
const stamp = (t: number) =>
  new Date(t)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');

/** A fingerprint of the app key (one-way, keyed by the key itself): a restore that lacks the key can tell a wrong one. */
const keyId = (appKey: string) => createHmac('sha256', appKey).update('palisade-backup-key-id').digest('hex').slice(0, 32);

export interface BackupFile {
  name: string;
  size: number;
  createdAt: string;
}

export interface BackupDeps {
  db: Db;
  dialect: Dialect;
  snapshot?: (dest: string) => Promise<void>;
  target: Target;
  config: BackupConfig;
  log: SecurityLog;
  /** Claims shared by the instances: one backup at a time, one instance per scheduled run. */
  shared: Pick<SharedState, 'setIfAbsent' | 'del'>;
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
}

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
  s3: string | null;
  keepDaily: number;
  keepWeekly: number;
  last: LastBackup | null;
}

const RUNNING_KEY = 'backup:running';
/** A backup that takes longer than this is taken for dead (its process ended): the claim lapses. */
const RUNNING_TTL_MS = 6 * 3_600_000;

/** Makes backups (on demand and on schedule), copies them to S3, lists them and applies the retention. */
export class BackupService {
  private timer: NodeJS.Timeout | null = null;
  private scheduled: Promise<unknown> | null = null;
  constructor(private readonly d: BackupDeps) {}

  get configured(): boolean {
    return this.d.config.passphrase !== null;
  }

  async create(ctx: EventContext): Promise<Created> {
    const passphrase = this.d.config.passphrase;
    if (passphrase === null) throw new AppError('BACKUP_NOT_CONFIGURED');
    const claim = randomBytes(8).toString('hex');
    if (!(await this.d.shared.setIfAbsent(RUNNING_KEY, claim, RUNNING_TTL_MS))) throw new AppError('BACKUP_BUSY');
    try {
      return await this.make(passphrase, ctx);
    } finally {
      await this.d.shared.del(RUNNING_KEY).catch(() => undefined);
    }
  }

  private async make(passphrase: string, ctx: EventContext): Promise<Created> {
    const dir = this.d.config.dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const staging = await mkdtemp(path.join(dir, '.staging-'));
    try {
      const members: Member[] = [];
      let facts: Pick<Manifest, 'migration' | 'tables' | 'chain'>;
      if (this.d.dialect === 'sqlite') {
        if (!this.d.snapshot) throw new TypeError('a SQLite handle without snapshot');
        const file = path.join(staging, 'palisade.db');
        await this.d.snapshot(file);
        const copy = openSqliteFile(file, { readonly: true });
        try {
          facts = { migration: await latestMigration(copy), tables: await countRows(copy, 'sqlite'), chain: await chainHead(copy) };
        } finally {
          await copy.destroy();
        }
        members.push({ name: 'db/palisade.db', file });
      } else {
        facts = await dumpPostgres(this.d.db, staging);
        for (const t of Object.keys(facts.tables)) members.push({ name: `db/tables/${t}.jsonl`, file: tableFile(staging, t) });
      }
      const t = this.d.target;
      const keys = { app: t.appKeySource === 'generated', secrets: t.secretsKeyFile !== null && existsSync(t.secretsKeyFile) };
      if (keys.app) members.push({ name: 'keys/app.key', data: Buffer.from(`${t.appKey}\n`) });
      if (keys.secrets) members.push({ name: 'keys/secrets.key', data: readFileSync(t.secretsKeyFile as string) });
      const at = this.d.now();
      const manifest: Manifest & { appKeyId: string } = {
        format: FORMAT,
        version: VERSION,
        createdAt: new Date(at).toISOString(),
        palisade: this.d.version,
        dialect: this.d.dialect,
        ...facts,
        keys,
        appKeyId: keyId(t.appKey),
      };
      members.unshift({ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest, null, 2)) });
      let name = `palisade-backup-${stamp(at)}.tar.gz.age`;
      for (let i = 2; existsSync(path.join(dir, name)); i++) name = `palisade-backup-${stamp(at)}-${i}.tar.gz.age`;
      const file = path.join(dir, name);
      const size = await writeArchive(file, passphrase, members);
      const copy = await this.copy(file);
      const rows = Object.values(facts.tables).reduce((a, b) => a + b, 0);
      await this.d.log.record(ctx, {
        type: 'backup.created',
        outcome: 'success',
        details: { name, size, tables: Object.keys(facts.tables).length, rows, copy: copy.state },
      });
      if (copy.state === 'failed')
        await this.d.log.record(ctx, { type: 'backup.copy_failed', outcome: 'failure', details: { name, where: copy.where, error: copy.error } });
      return { name, size, createdAt: manifest.createdAt, file, manifest, copy };
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
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
    return listBackups(this.d.config.dir);
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
        const remote = newestFirst((await s3.list(NAME)).map((r) => ({ ...r, createdAt: createdAtOf(r.name) })));
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
    let last: LastBackup | null = null;
    if (ev) {
      const d = (typeof ev.details === 'string' ? JSON.parse(ev.details) : (ev.details ?? {})) as { name?: string; size?: number; copy?: LastBackup['copy'] };
      last = { at: Number(ev.at), name: String(d.name ?? ''), size: Number(d.size ?? 0), copy: d.copy ?? 'off' };
    }
    return {
      configured: this.configured,
      schedule: c.schedule,
      nextRun: next ? next.toISOString() : null,
      dir: c.dir,
      s3: this.d.s3?.where ?? null,
      keepDaily: c.keepDaily,
      keepWeekly: c.keepWeekly,
      last,
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

/** Newest first: by the time in the name, then by the suffix of a second backup in the same second (…Z-2 after …Z). */
function newestFirst<T extends { name: string }>(list: T[]): T[] {
  const key = (n: string) => {
    const m = /^palisade-backup-(\d{8}T\d{6}Z)(?:-(\d+))?\./.exec(n);
    return `${m?.[1] ?? ''}:${String(Number(m?.[2] ?? 1)).padStart(6, '0')}`;
  };
  return list.sort((a, b) => (key(a.name) < key(b.name) ? 1 : key(a.name) > key(b.name) ? -1 : 0));
}

/** The creation time in an archive's name, as ISO 8601. */
function createdAtOf(name: string): string {
  const s = NAME.exec(name)?.[1] ?? '19700101T000000Z';
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`;
}

export function listBackups(dir: string): BackupFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: BackupFile[] = [];
  for (const name of names) {
    if (!NAME.test(name)) continue;
    out.push({ name, size: statSync(path.join(dir, name)).size, createdAt: createdAtOf(name) });
  }
  return newestFirst(out);
}

/** Grandfather-father-son: the newest of each day (keepDaily days) and of each ISO week (keepWeekly weeks); the newest always. */
export function retained(newestFirst: readonly BackupFile[], keepDaily: number, keepWeekly: number): Set<string> {
  const keep = new Set<string>();
  if (newestFirst[0]) keep.add(newestFirst[0].name);
  const days = new Set<string>();
  const weeks = new Set<string>();
  for (const b of newestFirst) {
    const day = b.createdAt.slice(0, 10);
    if (!days.has(day) && days.size < keepDaily) {
      days.add(day);
      keep.add(b.name);
    }
    const week = isoWeek(new Date(b.createdAt));
    if (!weeks.has(week) && weeks.size < keepWeekly) {
      weeks.add(week);
      keep.add(b.name);
    }
  }
  return keep;
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const year = t.getUTCFullYear();
  const week = Math.ceil(((t.getTime() - Date.UTC(year, 0, 1)) / 86400000 + 1) / 7);
  return `${year}-W${week}`;
}

const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Opens an archive into a staging directory and reads its manifest; the caller removes `dir`. */
async function open(file: string, passphrase: string, under: string): Promise<{ dir: string; manifest: Manifest & { appKeyId?: string }; members: string[] }> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new AppError('NOT_FOUND', { reason: 'no such backup file' });
  const { dir, members } = await readArchive(file, passphrase, under);
  try {
    const text = readFileSync(path.join(dir, 'manifest.json'), 'utf8');
    const manifest = parseManifest(text) as Manifest & { appKeyId?: string };
    const raw = JSON.parse(text) as { appKeyId?: unknown };
    if (typeof raw.appKeyId === 'string') manifest.appKeyId = raw.appKeyId;
    const expected = new Set(['manifest.json']);
    if (manifest.dialect === 'sqlite') expected.add('db/palisade.db');
    else for (const t of Object.keys(manifest.tables)) expected.add(`db/tables/${t}.jsonl`);
    if (manifest.keys.app) expected.add('keys/app.key');
    if (manifest.keys.secrets) expected.add('keys/secrets.key');
    const got = new Set(members);
    if (got.size !== expected.size || [...expected].some((m) => !got.has(m)))
      throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: 'the archive does not hold what its manifest lists' });
    if (!(await migrationNames(manifest.dialect)).includes(manifest.migration))
      throw new AppError('BACKUP_TOO_NEW', { reason: `the backup's schema (${manifest.migration}) is unknown to this release` });
    return { dir, manifest, members };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface Checked {
  manifest: Manifest;
  counts: Record<string, number>;
  /** Entries of the audit chain checked, or the first problem found. */
  chain: { ok: boolean; entries: number; problem: string | null };
}

/** Compares a restored database with the manifest (rows per table, the chain's head) and walks its audit chain. */
async function check(db: Db, dialect: Dialect, manifest: Manifest): Promise<Checked> {
  const counts = await countRows(db, dialect);
  const differences = countDifferences(manifest.tables, counts);
  if (differences.length > 0)
    throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: `the restored rows differ from the manifest: ${differences.slice(0, 5).join('; ')}` });
  const head = await chainHead(db);
  if (head.seq !== manifest.chain.seq || head.hash !== manifest.chain.hash)
    throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: 'the restored audit chain does not end where the manifest says' });
  const r = await verifyChain(db, { checkpoints: [], checkSignature: () => true });
  return {
    manifest,
    counts,
    chain: { ok: r.ok, entries: r.entries, problem: r.problem ? `entry ${r.problem.seq}: ${r.problem.problem}: ${r.problem.detail}` : null },
  };
}

const targetDialect = (t: Target): Dialect => (t.databaseUrl ? 'postgres' : 'sqlite');

/**
 * Restores into a scratch location (SQLite: a temporary copy; PostgreSQL: a schema made for it and dropped after)
 * and checks it: the archive opens, every table has the rows the manifest lists, and the audit chain is intact.
 * Nothing of the deployment is touched.
 */
export async function verifyBackup(file: string, passphrase: string, t: Target): Promise<Checked> {
  const under = path.join(t.dataDir, '.restore');
  const { dir, manifest } = await open(file, passphrase, under);
  try {
    if (manifest.dialect === 'sqlite') {
      const db = openSqliteFile(path.join(dir, 'db', 'palisade.db'), { readonly: true });
      try {
        return await check(db, 'sqlite', manifest);
      } finally {
        await db.destroy();
      }
    }
    if (t.databaseUrl === null) throw new AppError('BACKUP_DIALECT_MISMATCH', { reason: 'a PostgreSQL backup is verified with DATABASE_URL set' });
    const scratch = `palisade_verify_${randomBytes(6).toString('hex')}`;
    const h = await openDb({ databaseUrl: t.databaseUrl, dataDir: t.dataDir, poolMax: 2, pgSchema: scratch });
    try {
      await loadPostgres(h.db, dir, manifest.migration, Object.keys(manifest.tables));
      return await check(h.db, 'postgres', manifest);
    } finally {
      await h.db.schema
        .dropSchema(scratch)
        .ifExists()
        .cascade()
        .execute()
        .catch(() => undefined);
      await h.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes a key file through a temporary name (0600). */
function installKey(file: string, data: Buffer): void {
  const tmp = `${file}.restore`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, file);
}

export interface Restored extends Checked {
  migrated: string[];
}

/**
 * Restores a backup into the configured data directory and database. Refused when the database holds data or a
 * key file differs from the backup's, unless `force`; refused when the app key comes from the environment and is
 * not the one the backup was made with. Checks rows and chain before migrating to this release's schema.
 */
export async function restoreBackup(
  file: string,
  passphrase: string,
  t: Target,
  opts: { force: boolean; ctx: EventContext; log: (db: Db) => SecurityLog },
): Promise<Restored> {
  mkdirSync(t.dataDir, { recursive: true, mode: 0o700 });
  const { dir, manifest } = await open(file, passphrase, path.join(t.dataDir, '.restore'));
  try {
    if (manifest.dialect !== targetDialect(t))
      throw new AppError('BACKUP_DIALECT_MISMATCH', { reason: `the backup is of ${manifest.dialect}, the target is ${targetDialect(t)}` });
    // The keys: those in the archive go to the data directory, unless the environment gives them (then it must be the same key).
    const appFile = keyFilePath(t.dataDir);
    const archivedApp = manifest.keys.app ? readFileSync(path.join(dir, 'keys', 'app.key'), 'utf8').trim() : null;
    if (t.appKeySource !== 'generated') {
      const archivedId = archivedApp !== null ? keyId(archivedApp) : manifest.appKeyId;
      if (archivedId !== undefined && !sameText(archivedId, keyId(t.appKey)))
        throw new AppError('BACKUP_KEY_MISMATCH', { reason: 'APP_KEY is not the key the backup was made with' });
    } else if (archivedApp === null) {
      throw new AppError('BACKUP_KEY_MISMATCH', { reason: 'the backup was made with APP_KEY from the environment: set the same APP_KEY to restore it' });
    }
    const dialect = manifest.dialect;
    // The target must hold nothing (or the caller forces it).
    const sqliteFile = path.join(t.dataDir, 'palisade.db');
    if (!opts.force) {
      if (dialect === 'sqlite' && existsSync(sqliteFile)) {
        const db = openSqliteFile(sqliteFile, { readonly: true });
        try {
          if (Object.values(await countRows(db, 'sqlite')).some((n) => n > 0)) throw new AppError('BACKUP_TARGET_NOT_EMPTY');
        } finally {
          await db.destroy();
        }
      }
      if (t.appKeySource === 'generated' && existsSync(appFile) && !sameText(readFileSync(appFile, 'utf8').trim(), archivedApp ?? ''))
        throw new AppError('BACKUP_TARGET_NOT_EMPTY', { reason: `${appFile} holds another key` });
      if (manifest.keys.secrets && t.secretsKeyFile !== null && existsSync(t.secretsKeyFile)) {
        if (!readFileSync(t.secretsKeyFile).equals(readFileSync(path.join(dir, 'keys', 'secrets.key'))))
          throw new AppError('BACKUP_TARGET_NOT_EMPTY', { reason: `${t.secretsKeyFile} holds another key` });
      }
    }
    let checked: Checked;
    let migrated: string[];
    if (dialect === 'sqlite') {
      const staged = path.join(dir, 'db', 'palisade.db');
      const copy = openSqliteFile(staged, { readonly: true });
      try {
        checked = await check(copy, 'sqlite', manifest);
      } finally {
        await copy.destroy();
      }
      if (archivedApp !== null && t.appKeySource === 'generated') installKey(appFile, Buffer.from(`${archivedApp}\n`));
      if (manifest.keys.secrets && t.secretsKeyFile !== null) installKey(t.secretsKeyFile, readFileSync(path.join(dir, 'keys', 'secrets.key')));
      // A stale write-ahead log beside the old file would be replayed into the new one.
      for (const f of [`${sqliteFile}-wal`, `${sqliteFile}-shm`]) if (existsSync(f)) unlinkSync(f);
      renameSync(staged, sqliteFile);
      const db = openSqliteFile(sqliteFile, { readonly: false });
      try {
        migrated = await migrate(db, 'sqlite');
        await opts.log(db).record(opts.ctx, { type: 'backup.restored', outcome: 'success', details: restoredDetails(file, manifest) });
      } finally {
        await db.destroy();
      }
    } else {
      const h = await openDb({ databaseUrl: t.databaseUrl, dataDir: t.dataDir, poolMax: 2, pgSchema: t.databaseSchema ?? undefined });
      try {
        if (!opts.force && (await holdsData(h.db))) throw new AppError('BACKUP_TARGET_NOT_EMPTY');
        await loadPostgres(h.db, dir, manifest.migration, Object.keys(manifest.tables), (trx) =>
          check(trx, 'postgres', manifest).then((c) => {
            checked = c;
          }),
        );
        if (archivedApp !== null && t.appKeySource === 'generated') installKey(appFile, Buffer.from(`${archivedApp}\n`));
        if (manifest.keys.secrets && t.secretsKeyFile !== null) installKey(t.secretsKeyFile, readFileSync(path.join(dir, 'keys', 'secrets.key')));
        migrated = await migrate(h.db, 'postgres');
        await opts.log(h.db).record(opts.ctx, { type: 'backup.restored', outcome: 'success', details: restoredDetails(file, manifest) });
      } finally {
        await h.close();
      }
    }
    return { ...checked!, migrated };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const restoredDetails = (file: string, m: Manifest) => ({
  name: path.basename(file),
  createdAt: m.createdAt,
  madeBy: m.palisade,
  rows: Object.values(m.tables).reduce((a, b) => a + b, 0),
});
