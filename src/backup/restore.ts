/**
 * Restore and verification (DATA-2). Both open the archive into a private staging directory under the data directory
 * (archive.ts), check the manifest against the members, then restore: into a scratch place to verify, into the
 * configured target to restore. Nothing of a target changes before the restored rows and audit chain head have been
 * checked against the manifest, and what a forced restore replaces is moved aside, never deleted (D225).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { openDb, openSqliteFile, type Db, type Dialect } from '../db/index.js';
import { migrate, migrationNames } from '../db/migrations/index.js';
import { verify as verifyChain } from '../audit/verify.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { keyFilePath } from '../config/index.js';
import { AppError } from '../errors.js';
import { safeEqual } from '../util/safe-equal.js';
import { readArchive } from './archive.js';
import { chainHead, countDifferences, countRows, parseManifest, type Manifest } from './manifest.js';
import { appKeyId } from './names.js';
import { holdsData, loadPostgres } from './postgres.js';
import { checkFiles, filesDirHoldsData, placeOf } from './files.js';

/** What a backup or a restore needs to know of the deployment. */
export interface Target {
  dataDir: string;
  databaseUrl: string | null;
  databaseSchema: string | null;
  appKey: string;
  appKeySource: 'env' | 'file' | 'generated';
  /** The secret store's key file when it is kept in the data directory (secrets.source = data-dir). */
  secretsKeyFile: string | null;
  /** Where the disk store keeps uploaded files (FILES_DIR). */
  filesDir: string;
  /** FILES_STORAGE=s3: the files live in their bucket and are not in backups (D233). */
  filesInBucket: boolean;
}

export interface Checked {
  manifest: Manifest;
  counts: Record<string, number>;
  /** Entries of the audit chain checked, or the first problem found. */
  chain: { ok: boolean; entries: number; problem: string | null };
}

export interface Restored extends Checked {
  migrated: string[];
  /** What a forced restore replaced, moved aside (`*.pre-restore-<time>`): the operator removes it once satisfied. */
  keptAside: string[];
}

const targetDialect = (t: Target): Dialect => (t.databaseUrl ? 'postgres' : 'sqlite');

/** Opens an archive into a staging directory and reads its manifest; the caller removes `dir`. */
/** Staging left by a restore or verification that never finished (the process died): older than this, it goes. */
const STALE_MS = 24 * 3600_000;

/** Removes staging directories under `under` that were left more than STALE_MS ago. */
function sweepStaging(under: string): void {
  if (!existsSync(under)) return;
  for (const name of readdirSync(under)) {
    if (!/^restore-[A-Za-z0-9]+$/.test(name)) continue;
    const dir = path.join(under, name);
    try {
      if (Date.now() - statSync(dir).mtimeMs > STALE_MS) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Gone meanwhile, or not ours to remove: left as it is.
    }
  }
}

/**
 * A verification's scratch schema: `palisade_verify_<seconds, base 36>_<random>`. Schemas of this form older than
 * STALE_MS (a verification that died) and of the earlier unstamped form are dropped before a new one is made.
 */
const SCRATCH = /^palisade_verify_(?:([0-9a-z]{1,12})_)?[0-9a-f]{12}$/;
async function dropStaleScratch(db: Db): Promise<void> {
  const rows = await sql<{ name: string }>`select schema_name as name from information_schema.schemata where schema_name like 'palisade\_verify\_%'`.execute(
    db,
  );
  for (const { name } of rows.rows) {
    const m = SCRATCH.exec(name);
    if (!m || (m[1] !== undefined && Date.now() - parseInt(m[1], 36) * 1000 <= STALE_MS)) continue;
    await db.schema.dropSchema(name).ifExists().cascade().execute();
  }
}

async function open(file: string, passphrase: string, under: string): Promise<{ dir: string; manifest: Manifest }> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new AppError('NOT_FOUND', { reason: 'no such backup file' });
  sweepStaging(under);
  const { dir, members } = await readArchive(file, passphrase, under);
  try {
    const manifest = parseManifest(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const expected = new Set(['manifest.json']);
    if (manifest.dialect === 'sqlite') expected.add('db/palisade.db');
    else for (const t of Object.keys(manifest.tables)) expected.add(`db/tables/${t}.jsonl`);
    if (manifest.keys.app) expected.add('keys/app.key');
    if (manifest.keys.secrets) expected.add('keys/secrets.key');
    for (const k of manifest.files.keys) expected.add(`files/${k}`);
    const got = new Set(members);
    if (got.size !== expected.size || [...expected].some((m) => !got.has(m)))
      throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: 'the archive does not hold what its manifest lists' });
    if (!(await migrationNames(manifest.dialect)).includes(manifest.migration))
      throw new AppError('BACKUP_TOO_NEW', { reason: `the backup's schema (${manifest.migration}) is unknown to this release` });
    return { dir, manifest };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Compares a restored database with the manifest (rows per table, the chain's head) and walks its audit chain. */
async function check(db: Db, dialect: Dialect, manifest: Manifest, staged: string): Promise<Checked> {
  const counts = await countRows(db, dialect);
  const differences = countDifferences(manifest.tables, counts);
  if (differences.length > 0)
    throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: `the restored rows differ from the manifest: ${differences.slice(0, 5).join('; ')}` });
  const head = await chainHead(db);
  if (head.seq !== manifest.chain.seq || head.hash !== manifest.chain.hash)
    throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: 'the restored audit chain does not end where the manifest says' });
  await checkFiles(db, staged, manifest.files.keys);
  const r = await verifyChain(db, { checkpoints: [], checkSignature: () => true });
  return {
    manifest,
    counts,
    chain: { ok: r.ok, entries: r.entries, problem: r.problem ? `entry ${r.problem.seq}: ${r.problem.problem}: ${r.problem.detail}` : null },
  };
}

/**
 * Restores into a scratch location (SQLite: a temporary copy; PostgreSQL: a schema made for it and dropped after)
 * and checks it: the archive opens, every table has the rows the manifest lists, and the audit chain is intact.
 * Nothing of the deployment is touched.
 */
export async function verifyBackup(file: string, passphrase: string, t: Target): Promise<Checked> {
  const { dir, manifest } = await open(file, passphrase, path.join(t.dataDir, '.restore'));
  try {
    if (manifest.dialect === 'sqlite') {
      const db = openSqliteFile(path.join(dir, 'db', 'palisade.db'), { readonly: true });
      try {
        return await check(db, 'sqlite', manifest, dir);
      } finally {
        await db.destroy();
      }
    }
    if (t.databaseUrl === null) throw new AppError('BACKUP_DIALECT_MISMATCH', { reason: 'a PostgreSQL backup is verified with DATABASE_URL set' });
    const scratch = `palisade_verify_${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(6).toString('hex')}`;
    const h = await openDb({ databaseUrl: t.databaseUrl, dataDir: t.dataDir, poolMax: 2, pgSchema: scratch });
    try {
      await dropStaleScratch(h.db);
      await loadPostgres(h.db, dir, manifest.migration, Object.keys(manifest.tables));
      return await check(h.db, 'postgres', manifest, dir);
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

/**
 * The renames of a restore, undone in reverse order when a later step fails: what a forced restore replaces is
 * moved aside first, then the restored files are moved in.
 */
class Moves {
  private readonly done: [string, string][] = [];
  readonly aside: string[] = [];
  constructor(private readonly suffix: string) {}

  move(from: string, to: string): void {
    renameSync(from, to);
    this.done.push([from, to]);
  }

  /** Moves `file` aside when it exists (`<file>.pre-restore-<time>`). */
  setAside(file: string): void {
    if (!existsSync(file)) return;
    const to = `${file}.pre-restore-${this.suffix}`;
    this.move(file, to);
    this.aside.push(to);
  }

  /** Writes `data` as `file` (0600) through a fresh temporary name, moving an existing file aside first. */
  install(file: string, data: Buffer): void {
    const tmp = `${file}.restore-${randomBytes(6).toString('hex')}`;
    writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    try {
      this.setAside(file);
      this.move(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }

  undo(): void {
    for (const [from, to] of this.done.reverse()) {
      try {
        renameSync(to, from);
      } catch {
        /* best effort: what stays aside is listed in the error's log line */
      }
    }
    this.done.length = 0;
  }
}

/** The claims a backup held when it was made (src/backup/index.ts): a restored database must not start blocked by them. */
const clearBackupClaims = (db: Db) => sql`delete from shared_kv where key like ${'backup:%'}`.execute(db);

/**
 * Restores a backup into the configured data directory and database. Refused when the database holds data or a
 * key file differs from the backup's, unless `force`; refused when the app key comes from the environment and is
 * not the one the backup was made with. Checks rows and chain before anything of the target changes, then
 * migrates to this release's schema.
 */
export async function restoreBackup(
  file: string,
  passphrase: string,
  t: Target,
  opts: { force: boolean; ctx: EventContext; log: (db: Db) => SecurityLog; now: () => number },
): Promise<Restored> {
  mkdirSync(t.dataDir, { recursive: true, mode: 0o700 });
  const { dir, manifest } = await open(file, passphrase, path.join(t.dataDir, '.restore'));
  const moves = new Moves(new Date(opts.now()).toISOString().replace(/[-:.]/g, ''));
  try {
    if (manifest.dialect !== targetDialect(t))
      throw new AppError('BACKUP_DIALECT_MISMATCH', { reason: `the backup is of ${manifest.dialect}, the target is ${targetDialect(t)}` });
    // The keys: those in the archive go to the data directory, unless the environment gives them (then it must be the same key).
    const appFile = keyFilePath(t.dataDir);
    const archivedApp = manifest.keys.app ? readFileSync(path.join(dir, 'keys', 'app.key'), 'utf8').trim() : null;
    if (archivedApp !== null && !safeEqual(appKeyId(archivedApp), manifest.appKeyId))
      throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: "the archive's app key does not match its manifest" });
    if (t.appKeySource !== 'generated') {
      if (!safeEqual(manifest.appKeyId, appKeyId(t.appKey)))
        throw new AppError('BACKUP_KEY_MISMATCH', { reason: 'APP_KEY is not the key the backup was made with' });
    } else if (archivedApp === null) {
      throw new AppError('BACKUP_KEY_MISMATCH', { reason: 'the backup was made with APP_KEY from the environment: set the same APP_KEY to restore it' });
    }
    const archivedSecrets = manifest.keys.secrets ? readFileSync(path.join(dir, 'keys', 'secrets.key')) : null;
    // The stored files: what FILES_DIR held moves aside as a whole, then each archived file goes under its key.
    const placeFiles = () => {
      if (filesDirHoldsData(t.filesDir)) moves.setAside(t.filesDir);
      if (manifest.files.keys.length === 0) return;
      mkdirSync(t.filesDir, { recursive: true, mode: 0o700 });
      for (const k of manifest.files.keys) moves.move(path.join(dir, 'files', k), placeOf(t.filesDir, k));
    };
    const installKeys = () => {
      if (archivedApp !== null && t.appKeySource === 'generated') moves.install(appFile, Buffer.from(`${archivedApp}\n`));
      if (archivedSecrets !== null && t.secretsKeyFile !== null) moves.install(t.secretsKeyFile, archivedSecrets);
    };
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
      if (t.appKeySource === 'generated' && existsSync(appFile) && !safeEqual(readFileSync(appFile, 'utf8').trim(), archivedApp ?? ''))
        throw new AppError('BACKUP_TARGET_NOT_EMPTY', { reason: `${appFile} holds another key` });
      if (filesDirHoldsData(t.filesDir)) throw new AppError('BACKUP_TARGET_NOT_EMPTY', { reason: `${t.filesDir} holds files` });
      if (archivedSecrets !== null && t.secretsKeyFile !== null && existsSync(t.secretsKeyFile) && !readFileSync(t.secretsKeyFile).equals(archivedSecrets))
        throw new AppError('BACKUP_TARGET_NOT_EMPTY', { reason: `${t.secretsKeyFile} holds another key` });
    }
    let checked: Checked | undefined;
    let migrated: string[];
    if (dialect === 'sqlite') {
      const staged = path.join(dir, 'db', 'palisade.db');
      const copy = openSqliteFile(staged, { readonly: true });
      try {
        checked = await check(copy, 'sqlite', manifest, dir);
      } finally {
        await copy.destroy();
      }
      try {
        // The old database with its write-ahead log moves aside as a whole (a stale log must never meet the new file).
        for (const f of [sqliteFile, `${sqliteFile}-wal`, `${sqliteFile}-shm`]) moves.setAside(f);
        moves.move(staged, sqliteFile);
        placeFiles();
        installKeys();
      } catch (e) {
        moves.undo();
        throw e;
      }
      const db = openSqliteFile(sqliteFile, { readonly: false });
      try {
        await clearBackupClaims(db);
        migrated = await migrate(db, 'sqlite');
        await opts.log(db).record(opts.ctx, { type: 'backup.restored', outcome: 'success', details: restoredDetails(file, manifest, moves.aside) });
      } finally {
        await db.destroy();
      }
    } else {
      const h = await openDb({ databaseUrl: t.databaseUrl, dataDir: t.dataDir, poolMax: 2, pgSchema: t.databaseSchema ?? undefined });
      try {
        if (!opts.force && (await holdsData(h.db))) throw new AppError('BACKUP_TARGET_NOT_EMPTY');
        try {
          // The keys go in last before the commit; a failed commit puts the old ones back.
          await loadPostgres(h.db, dir, manifest.migration, Object.keys(manifest.tables), async (trx) => {
            checked = await check(trx, 'postgres', manifest, dir);
            await clearBackupClaims(trx);
            placeFiles();
            installKeys();
          });
        } catch (e) {
          moves.undo();
          throw e;
        }
        migrated = await migrate(h.db, 'postgres');
        await opts.log(h.db).record(opts.ctx, { type: 'backup.restored', outcome: 'success', details: restoredDetails(file, manifest, moves.aside) });
      } finally {
        await h.close();
      }
    }
    if (!checked) throw new Error('restore: nothing was checked');
    return { ...checked, migrated, keptAside: moves.aside };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const restoredDetails = (file: string, m: Manifest, aside: string[]) => ({
  name: path.basename(file),
  createdAt: m.createdAt,
  madeBy: m.palisade,
  rows: Object.values(m.tables).reduce((a, b) => a + b, 0),
  keptAside: aside.map((f) => path.basename(f)),
});

/** Removes what a crashed backup or restore left in `dir` (staging directories, partial archives) older than `ms`. */
export function sweepLeftovers(dirs: readonly string[], olderThan: number): void {
  for (const d of dirs) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      if (!/^(\.staging-|restore-)|\.partial$/.test(n)) continue;
      const f = path.join(d, n);
      try {
        if (statSync(f).mtimeMs < olderThan) rmSync(f, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
    }
  }
}
