/** The manifest inside every backup archive: what it holds, never a secret (keys travel as members of their own). */
import { sql } from 'kysely';
import type { Db, Dialect } from '../db/index.js';
import { AppError } from '../errors.js';

export const FORMAT = 'palisade-backup';
export const VERSION = 1;

export interface Manifest {
  format: typeof FORMAT;
  version: typeof VERSION;
  createdAt: string;
  /** The Palisade release that made it (package.json). */
  palisade: string;
  dialect: Dialect;
  /** The latest migration applied when it was made: a restore rebuilds that schema, then migrates to the latest. */
  migration: string;
  /** Rows per table. */
  tables: Record<string, number>;
  /** The audit chain's head: a restored chain must end at the same entry with the same hash. */
  chain: { seq: number; hash: string };
  /** Which keys the archive holds: those kept in the data directory; keys given by the environment stay with the operator. */
  keys: { app: boolean; secrets: boolean };
  /** A one-way fingerprint of the app key (names.ts `appKeyId`): a restore with another APP_KEY is refused. */
  appKeyId: string;
  /** The stored files (DATA-3) the archive holds, by key; rows whose bytes were gone when the backup was made are counted apart. */
  files: { keys: string[]; missing: number };
}

const FILE_KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const MIGRATION = /^\d{4}_[a-z0-9_]{1,60}$/;

/** Parses and checks a manifest read from an archive (authenticated, but checked anyway: its names become paths and SQL identifiers). */
export function parseManifest(text: string): Manifest {
  const bad = (why: string) => new AppError('BACKUP_ARCHIVE_INVALID', { reason: `the manifest ${why}` });
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw bad('is not JSON');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad('is not an object');
  const o = m as Record<string, unknown>;
  if (o.format !== FORMAT) throw bad('is not a Palisade backup manifest');
  if (o.version !== VERSION) throw new AppError('BACKUP_TOO_NEW', { reason: `archive format ${String(o.version)}; this release reads ${VERSION}` });
  if (o.dialect !== 'sqlite' && o.dialect !== 'postgres') throw bad('names no known database kind');
  if (typeof o.migration !== 'string' || !MIGRATION.test(o.migration)) throw bad('names no migration');
  if (typeof o.createdAt !== 'string' || Number.isNaN(Date.parse(o.createdAt))) throw bad('has no creation time');
  const tables = o.tables as Record<string, unknown> | undefined;
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables)) throw bad('has no table counts');
  for (const [t, n] of Object.entries(tables))
    if (!IDENT.test(t) || !Number.isSafeInteger(n) || (n as number) < 0) throw bad(`has a bad table entry (${t.slice(0, 64)})`);
  const chain = o.chain as Record<string, unknown> | undefined;
  if (!chain || !Number.isSafeInteger(chain.seq) || typeof chain.hash !== 'string') throw bad('has no audit chain head');
  const keys = o.keys as Record<string, unknown> | undefined;
  if (!keys || typeof keys.app !== 'boolean' || typeof keys.secrets !== 'boolean') throw bad('does not say which keys it holds');
  if (typeof o.appKeyId !== 'string' || !/^[0-9a-f]{32}$/.test(o.appKeyId)) throw bad('has no app key fingerprint');
  // Archives made before files existed hold none.
  const files = (o.files ?? { keys: [], missing: 0 }) as { keys?: unknown; missing?: unknown };
  if (!Array.isArray(files.keys) || !files.keys.every((k) => typeof k === 'string' && FILE_KEY.test(k)) || !Number.isSafeInteger(files.missing))
    throw bad('has a bad list of files');
  if (new Set(files.keys).size !== files.keys.length) throw bad('lists a file twice');
  return {
    format: FORMAT,
    version: VERSION,
    createdAt: o.createdAt,
    palisade: typeof o.palisade === 'string' ? o.palisade.slice(0, 40) : 'unknown',
    dialect: o.dialect,
    migration: o.migration,
    tables: tables as Record<string, number>,
    chain: { seq: chain.seq as number, hash: chain.hash },
    keys: { app: keys.app, secrets: keys.secrets },
    appKeyId: o.appKeyId,
    files: { keys: files.keys as string[], missing: files.missing as number },
  };
}

/** A table name from the catalogue: a plain identifier, or refused (it becomes a path and an SQL identifier). */
export const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
/** Kysely's own bookkeeping: rebuilt by the migrations, never copied or counted. */
export const MIGRATION_TABLES: ReadonlySet<string> = new Set(['kysely_migration', 'kysely_migration_lock']);

/** The tables of a database (SQLite's, or PostgreSQL's current schema), without the migration tables, each a plain identifier. */
export async function tableNames(db: Db, dialect: Dialect): Promise<string[]> {
  const rows =
    dialect === 'sqlite'
      ? (await sql<{ t: string }>`select name as t from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`.execute(db)).rows
      : (
          await sql<{ t: string }>`select table_name as t from information_schema.tables
            where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(db)
        ).rows;
  const names = rows.map((r) => r.t).filter((t) => !MIGRATION_TABLES.has(t));
  for (const t of names) if (!IDENT.test(t)) throw new Error(`table ${JSON.stringify(t.slice(0, 64))} is not a plain identifier`);
  return names;
}

/** The tables of a database (without Kysely's migration tables), each with its row count. */
export async function countRows(db: Db, dialect: Dialect): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of await tableNames(db, dialect)) {
    const r = await sql<{ n: number | string }>`select count(*) as n from ${sql.id(t)}`.execute(db);
    out[t] = Number(r.rows[0]?.n ?? 0);
  }
  return out;
}

export async function chainHead(db: Db): Promise<{ seq: number; hash: string }> {
  const h = await db.selectFrom('audit_chain_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
  return { seq: Number(h?.seq ?? 0), hash: h?.hash ?? '' };
}

export async function latestMigration(db: Db): Promise<string> {
  const r = await sql<{ name: string }>`select name from kysely_migration order by name desc limit 1`.execute(db);
  const name = r.rows[0]?.name;
  if (!name) throw new Error('the database has no migration applied');
  return name;
}

/** Differences between the counts a manifest records and those found, as "table: expected → found". */
export function countDifferences(expected: Record<string, number>, found: Record<string, number>): string[] {
  const out: string[] = [];
  for (const t of new Set([...Object.keys(expected), ...Object.keys(found)]))
    if (expected[t] !== found[t]) out.push(`${t}: ${expected[t] ?? 'absent'} → ${found[t] ?? 'absent'}`);
  return out;
}
