import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Database } from './types.js';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;

// int8 columns (epoch milliseconds, counts) come back as numbers, not strings.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export interface DbOptions {
  databaseUrl: string | null;
  dataDir: string;
  poolMax: number;
  /** PostgreSQL schema to use (tests isolate themselves with one); checked as an identifier. */
  pgSchema?: string;
}

export interface DbHandle {
  db: Db;
  dialect: Dialect;
  close(): Promise<void>;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDb(opts: DbOptions): Promise<DbHandle> {
  if (opts.databaseUrl) {
    if (opts.pgSchema !== undefined && !IDENT.test(opts.pgSchema)) throw new TypeError('pgSchema must be a plain identifier');
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolMax,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30000,
      statement_timeout: 15000,
      ...(opts.pgSchema ? { options: `-c search_path=${opts.pgSchema}` } : {}),
    });
    pool.on('error', () => { /* an idle client died; the pool replaces it */ });
    if (opts.pgSchema) {
      const c = await pool.connect();
      try { await c.query(`CREATE SCHEMA IF NOT EXISTS ${opts.pgSchema}`); } finally { c.release(); }
    }
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', close: () => db.destroy() };
  }
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const file = new SQLite(path.join(opts.dataDir, 'palisade.db'));
  file.pragma('journal_mode = WAL');
  file.pragma('foreign_keys = ON');
  file.pragma('busy_timeout = 5000');
  // Planner statistics, as SQLite recommends for long-lived connections: at open, then hourly. Without
  // them a broad row scope is served from its column index and sorted, instead of walked in id order.
  file.pragma('optimize = 0x10002');
  const optimize = setInterval(() => {
    try { file.pragma('optimize'); } catch { /* busy: the next hour will do */ }
  }, 3_600_000);
  optimize.unref();
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachedStatements(file) }) });
  return { db, dialect: 'sqlite', close: () => { clearInterval(optimize); return db.destroy(); } };
}

/**
 * Kysely prepares every statement anew; SQLite's own statement cache is per prepare. This keeps the
 * last 500 prepared statements by SQL text (the SQL is always parameterised, so the text repeats),
 * and prepares a fresh one when a cached statement is still busy with an iteration.
 */
function cachedStatements(file: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = file.prepare.bind(file);
  return new Proxy(file, {
    get(target, prop, receiver) {
      if (prop !== 'prepare') {
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return (text: string) => {
        const hit = cache.get(text);
        if (hit && !hit.busy) {
          cache.delete(text); // most recently used last
          cache.set(text, hit);
          return hit;
        }
        const stmt = prepare(text);
        if (!hit) {
          cache.set(text, stmt);
          if (cache.size > 500) cache.delete(cache.keys().next().value!);
        }
        return stmt;
      };
    },
  });
}

export async function ping(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}
