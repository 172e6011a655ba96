/**
 * Archive names, listing and retention (DATA-2). A name carries its time and the deployment it belongs to:
 * `palisade-backup-20261201T030000Z-1a2b3c4d.tar.gz.age` (a suffix `-2`, `-3` for a second backup in the same
 * second). Retention and listing only ever consider this deployment's names, so that two deployments sharing a
 * directory or a bucket prefix never prune each other's backups (D226).
 */
import { createHmac } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export interface BackupFile {
  name: string;
  size: number;
  createdAt: string;
}

const NAME = /^palisade-backup-(\d{8}T\d{6}Z)-([0-9a-f]{8})(?:-(\d{1,4}))?\.tar\.gz\.age$/;

/** A one-way fingerprint of the app key (keyed by the key itself): the manifest's, to tell a wrong APP_KEY at restore. */
export const appKeyId = (appKey: string): string => createHmac('sha256', appKey).update('palisade-backup-key-id').digest('hex').slice(0, 32);

/** The deployment's mark in archive names: the first 8 hex digits of appKeyId (32 bits of an HMAC: no key material). */
export const deploymentOf = (appKey: string): string => appKeyId(appKey).slice(0, 8);

const stamp = (t: number) =>
  new Date(t)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');

/** The name of an archive made at `at`, the `n`th of that second (1 for the first). */
export function archiveName(at: number, deployment: string, n: number): string {
  return `palisade-backup-${stamp(at)}-${deployment}${n > 1 ? `-${n}` : ''}.tar.gz.age`;
}

/** Whether `name` is one of this deployment's archives. */
export const isOurs = (name: string, deployment: string): boolean => NAME.exec(name)?.[2] === deployment;

/** The creation time in an archive's name, as ISO 8601. */
export function createdAtOf(name: string): string {
  const s = NAME.exec(name)?.[1] ?? '19700101T000000Z';
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`;
}

/** Newest first: by the time in the name, then by the suffix of a later backup in the same second. */
export function newestFirst<T extends { name: string }>(list: T[]): T[] {
  const key = (n: string) => {
    const m = NAME.exec(n);
    return `${m?.[1] ?? ''}:${String(Number(m?.[3] ?? 1)).padStart(6, '0')}`;
  };
  return list.sort((a, b) => (key(a.name) < key(b.name) ? 1 : key(a.name) > key(b.name) ? -1 : 0));
}

/** This deployment's archives in `dir`, newest first. */
export function listBackups(dir: string, deployment: string): BackupFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: BackupFile[] = [];
  for (const name of names) {
    if (!isOurs(name, deployment)) continue;
    out.push({ name, size: statSync(path.join(dir, name)).size, createdAt: createdAtOf(name) });
  }
  return newestFirst(out);
}

/** Grandfather-father-son: the newest of each day (keepDaily days) and of each ISO week (keepWeekly weeks); the newest always. */
export function retained(newest: readonly BackupFile[], keepDaily: number, keepWeekly: number): Set<string> {
  const keep = new Set<string>();
  if (newest[0]) keep.add(newest[0].name);
  const days = new Set<string>();
  const weeks = new Set<string>();
  for (const b of newest) {
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
