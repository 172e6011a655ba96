/**
 * The stored files (DATA-3) in a backup: the bytes of every file row of the database copy, as archive members
 * `files/<key>`; at restore, each is checked against its row's SHA-256 and placed under FILES_DIR as the disk store
 * keeps it. Files never change under a key (a new version is a new key), so the bytes read after the snapshot are
 * those of its rows; a row whose bytes were removed meanwhile is counted as missing.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db, Dialect } from '../db/index.js';
import { diskPathOf } from '../files/store.js';
import { AppError } from '../errors.js';
import type { Member } from './archive.js';
import { tableFile } from './postgres.js';

/** The keys of the file rows in a database copy (SQLite: the copy opened; PostgreSQL: the dumped table). */
export async function fileKeysOf(dialect: Dialect, copy: Db | null, staging: string): Promise<string[]> {
  if (dialect === 'sqlite' && copy) return (await sql<{ id: string }>`select id from files order by id`.execute(copy)).rows.map((r) => r.id);
  const file = tableFile(staging, 'files');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => String((JSON.parse(l) as { id: unknown }).id));
}

/** The members for these keys, and how many keys had no bytes any more. */
export function fileMembers(filesDir: string, keys: readonly string[]): { members: Member[]; keys: string[]; missing: number } {
  const members: Member[] = [];
  const present: string[] = [];
  for (const key of keys) {
    const file = diskPathOf(filesDir, key);
    if (!existsSync(file)) continue;
    members.push({ name: `files/${key}`, file });
    present.push(key);
  }
  return { members, keys: present, missing: keys.length - present.length };
}

const sha256Of = (file: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });

/** Checks every archived file against its row in the restored database: the row exists and the bytes hash to its SHA-256. */
export async function checkFiles(db: Db, staged: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const rows = new Map((await sql<{ id: string; sha256: string }>`select id, sha256 from files`.execute(db)).rows.map((r) => [r.id, r.sha256]));
  for (const key of keys) {
    const want = rows.get(key);
    if (want === undefined) throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: `the archive holds a file no row names (${key})` });
    if ((await sha256Of(path.join(staged, 'files', key))) !== want)
      throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: `a stored file does not match its SHA-256 (${key})` });
  }
}

/** Whether FILES_DIR holds any stored file (its staging area aside). */
export function filesDirHoldsData(filesDir: string): boolean {
  if (!existsSync(filesDir)) return false;
  return readdirSync(filesDir).some((n) => n !== '.staging');
}

/** Where a staged file goes, its directory made (0700). */
export function placeOf(filesDir: string, key: string): string {
  const to = diskPathOf(filesDir, key);
  mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
  return to;
}
