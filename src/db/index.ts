import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { CurrentSchemaIntrospector } from './introspect.js';
// better-sqlite3's code on SQLite's bedrock branch, with its prebuilt binaries inside the npm package
// (better-sqlite3 fetches its binary from GitHub at install, or compiles for a minute): D79.
import SQLite from '@rocicorp/zero-sqlite3';
import pg from 'pg';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Database } from './types.js';
import { StorageHealth, guardedPool, observedDialect } from './outage.js';
import { connectFailure, outageOf } from './errors.js';
import { sqlLogger, type SqlLogSink } from './sql-log.js';
import { preparing } from './prepared.js';
import { ChangeFeed, countWrites } from './change-feed.js';
import { BACKSTOP_PAGES, checkpointInBackground } from './checkpointer.js';
import { waitingDialect } from './sqlite-wait.js';
import { registerSync } from './sync.js';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;

// int8 columns (epoch milliseconds, counts) come back as numbers, not strings.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

/** Runs `fn` in `db` when it is already a transaction, else in a new one. */
export function inTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

export interface DbOptions {
  databaseUrl: string | null;
  dataDir: string;
  poolMax: number;
  /** PostgreSQL schema to use (tests isolate themselves with one); checked as an identifier. */
  pgSchema?: string;
  /** The SQL log (LOG_SQL): statements, parameter counts and durations; unset, no SQL is logged. */
  sqlLog?: SqlLogSink;
  /** Where the URL comes from (DATABASE_URL, DATABASE_MIGRATION_URL), named when the first connection fails. */
  urlName?: string;
  /**
   * PostgreSQL: keep a listening connection for the change mark (`changeMark`, D453); the server's own handle only
   * (DATABASE_LISTEN), never a CLI command's.
   */
  listen?: boolean;
  /** PostgreSQL without `listen`: called when a statement that may write returns (the DDL handle tells the server's feed). */
  onWrite?: () => void;
}

export interface DbHandle {
  db: Db;
  dialect: Dialect;
  /** Whether writes fail for lack of storage (full or read-only disk); read by /readyz. */
  storage: StorageHealth;
  /** PostgreSQL's connection pool (metrics): clients open, idle, and requests waiting for one. */
  pool?: () => { total: number; idle: number; waiting: number };
  /**
   * SQLite: moves whenever a row of the database changes, through this process (`total_changes()`, which counts
   * trigger and foreign-key changes too) or through any other connection (`data_version`, within OTHER_COMMITS_MS,
   * D454), D450. Read on the server's own connection, without a statement of Kysely's.
   * PostgreSQL with `listen`: moves with every notice of a change to a credential's tables, every write of this
   * instance, and is a mark never given before while the listening connection cannot vouch for it (D453).
   */
  changeMark?: () => string;
  /** PostgreSQL with `listen`: what another handle of the same server calls when it wrote (`DbOptions.onWrite`). */
  wrote?: () => void;
  /** SQLite: a consistent copy of the database file at `dest` through SQLite's online backup API (src/backup/). */
  snapshot?: (dest: string) => Promise<void>;
  /**
   * SQLite: after an erasure has committed, empties the write-ahead log (`Checkpointer.scrub`), so that the pages it
   * replaced are gone from the log as `secure_delete` makes them gone from the database file (D458). True once done
   * within `withinMs`.
   */
  scrub?: (withinMs?: number) => Promise<boolean>;
  close(): Promise<void>;
}

/**
 * SQLite: how long a commit through another connection to the file (the CLI, a second instance) may go unseen by the
 * change mark (D454); this instance's own changes are seen at once.
 */
export const OTHER_COMMITS_MS = 1;

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The pool's address and server settings: the schema's search_path is added to the URL's own `options` (libpq's
 * server settings, e.g. `?options=-c%20statement_timeout%3D5000`). node-postgres lets a value in the URL replace the
 * one given beside it, so a URL with `options` would otherwise drop the search_path and put the tables in `public`.
 */
function poolTarget(url: string, schema: string | undefined): { connectionString: string; options?: string } {
  if (!schema) return { connectionString: url };
  const path = `-c search_path=${schema}`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { connectionString: url, options: path };
  }
  const own = u.searchParams.get('options');
  if (own === null) return { connectionString: url, options: path };
  u.searchParams.delete('options');
  // Ours comes last: a search_path in the URL's own options gives way to DATABASE_SCHEMA.
  return { connectionString: u.href, options: `${own} ${path}` };
}

export async function openDb(opts: DbOptions): Promise<DbHandle> {
  if (opts.databaseUrl) {
    if (opts.pgSchema !== undefined && !IDENT.test(opts.pgSchema)) throw new TypeError('pgSchema must be a plain identifier');
    const pool = new pg.Pool({
      ...poolTarget(opts.databaseUrl, opts.pgSchema),
      max: opts.poolMax,
      // A dead or unreachable server must cost a request about a second, not a hang (issue 9). The same
      // bound applies to waiting for a free pool client. query_timeout is the client-side backstop
      // for a server that stopped answering (statement_timeout needs a live server).
      connectionTimeoutMillis: 2000,
      idleTimeoutMillis: 30000,
      statement_timeout: 15000,
      query_timeout: 20000,
      keepAlive: true,
    });
    pool.on('error', () => {
      /* an idle client died; the pool replaces it */
    });
    // A checked-out client whose server dies between two queries emits 'error' with no listener of
    // the pool's: unhandled, that would end the process. Its next query fails (a 503) and the pool
    // drops it on release.
    // Named so that an operator (and a test) finds the listening connection in pg_stat_activity.
    const listener = { ...poolTarget(opts.databaseUrl, opts.pgSchema), application_name: `palisade listen${opts.pgSchema ? ` ${opts.pgSchema}` : ''}` };
    const feed = opts.listen ? new ChangeFeed(listener, (channel, payload) => pool.query('select pg_notify($1, $2)', [channel, payload])) : undefined;
    const onWrite = feed ? () => feed.wrote() : opts.onWrite;
    pool.on('connect', (client) => {
      client.on('error', () => {
        /* surfaced by the next query */
      });
      preparing(client);
      if (onWrite) countWrites(client, onWrite);
    });
    // One connection now: a server that refuses (a client certificate it does not trust, a wrong password) stops the
    // start with the variable named, before any migration.
    let c: pg.PoolClient;
    try {
      c = await pool.connect();
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw connectFailure(opts.urlName ?? 'the database URL', e);
    }
    try {
      if (opts.pgSchema) {
        // A schema made beforehand for a role that may not create schemas (least privilege) is used as it
        // is: CREATE SCHEMA IF NOT EXISTS would still ask for CREATE on the database.
        const exists = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [opts.pgSchema]);
        if (exists.rowCount === 0) await c.query(`CREATE SCHEMA IF NOT EXISTS ${opts.pgSchema}`);
      }
    } finally {
      c.release();
    }
    const storage = new StorageHealth();
    const postgres = new PostgresDialect({ pool: guardedPool(pool) });
    postgres.createIntrospector = (db) => new CurrentSchemaIntrospector(db);
    const db = new Kysely<Database>({ dialect: observedDialect(postgres, storage), ...logOption(opts) });
    await feed?.start();
    return {
      db,
      dialect: 'postgres',
      storage,
      pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      ...(feed ? { changeMark: () => feed.mark(), wrote: () => feed.wrote() } : {}),
      close: async () => {
        await feed?.close();
        await db.destroy();
      },
    };
  }
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const file = new SQLite(path.join(opts.dataDir, 'palisade.db'));
  file.pragma('journal_mode = WAL');
  file.pragma('foreign_keys = ON');
  // What a deletion or an overwrite frees is zeroed, inside a page and whole freed pages (a long value's overflow
  // pages) alike, so that an erased record's values and a destroyed key do not stay readable in the file (D458).
  file.pragma('secure_delete = ON');
  // Checkpoints run in a worker thread; this connection checkpoints itself only past the backstop (D363).
  file.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const checkpointer = checkpointInBackground(file.name);
  // Planner statistics, as SQLite recommends for long-lived connections: at open, then hourly. Without
  // them a broad row scope is served from its column index and sorted, instead of walked in id order.
  // The build keeps samples of index keys (SQLITE_ENABLE_STAT4): raw values of indexed fields, an email say, copied
  // where no erasure reaches them. They are deleted in the transaction that wrote them, so they are never committed:
  // the file keeps only the per-index counts of sqlite_stat1, and so does every later load of the statistics (D458).
  const analyse = (mask: string) => {
    if (file.inTransaction) return; // a transaction of the server's is open: the next run does it
    file.exec('BEGIN IMMEDIATE');
    try {
      file.pragma(`optimize = ${mask}`);
      if (file.prepare("select 1 from sqlite_master where type = 'table' and name = 'sqlite_stat4'").get()) file.exec('delete from sqlite_stat4');
      file.exec('COMMIT');
    } catch (e) {
      if (file.inTransaction) file.exec('ROLLBACK');
      throw e;
    }
  };
  analyse('0x10002');
  // From here lock waits are asynchronous (sqlite-wait.ts, D383): SQLite itself never sleeps inside a call. (The
  // statistics above may write: at open, SQLite's own 5 s wait still applies to them.)
  file.pragma('busy_timeout = 0');
  const optimize = setInterval(() => {
    try {
      analyse('0xfffe');
    } catch {
      /* busy: the next hour will do */
    }
  }, 3_600_000);
  optimize.unref();
  const storage = new StorageHealth();
  const changes = file.prepare('select total_changes()').pluck(true);
  const version = file.prepare('pragma data_version').pluck(true);
  // `data_version` begins a read transaction (two file-lock calls, about 11 µs a request in a busy server, most of what
  // /api/auth/me costs beyond /healthz): it is read again once OTHER_COMMITS_MS have passed since the last read, so
  // that a busy instance reads it once for many requests; this connection's own changes count at every call (D454).
  let other: { version: number; at: number } | null = null;
  const otherCommits = (): number => {
    const at = performance.now();
    if (other === null || at - other.at >= OTHER_COMMITS_MS) other = { version: version.get() as number, at };
    return other.version;
  };
  let unreadable = 0;
  const kept = cachedStatements(file);
  const db = new Kysely<Database>({
    dialect: observedDialect(
      waitingDialect(new SqliteDialect({ database: kept }), () => file.inTransaction),
      storage,
      () => file.inTransaction,
    ),
    ...logOption(opts),
  });
  registerSync(db, { file, health: storage, log: opts.sqlLog ? sqlLogger(opts.sqlLog) : null });
  return {
    db,
    dialect: 'sqlite',
    storage,
    changeMark: () => {
      try {
        return `${changes.get() as number}:${otherCommits()}`;
      } catch {
        // The file is busy (another process recovering the WAL, say): a mark never seen, so the caller reads afresh
        // through the driver, which waits for the file as every statement does.
        unreadable += 1;
        return `busy:${unreadable}`;
      }
    },
    snapshot: async (dest) => {
      await file.backup(dest);
    },
    scrub: (withinMs = 5000) => checkpointer.scrub(withinMs),
    close: async () => {
      clearInterval(optimize);
      await checkpointer.stop();
      await db.destroy();
    },
  };
}

/**
 * A SQLite file on its own (a backup's snapshot, a restore's scratch copy): no WAL switch, no statement cache.
 * Read-only opens refuse every write; `fileMustExist` keeps a wrong path from creating an empty database.
 */
export function openSqliteFile(file: string, opts: { readonly: boolean }): Db {
  const database = new SQLite(file, { readonly: opts.readonly, fileMustExist: true });
  if (!opts.readonly) {
    database.pragma('foreign_keys = ON');
    database.pragma('secure_delete = ON');
  }
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
}

const logOption = (opts: DbOptions) => (opts.sqlLog ? { log: sqlLogger(opts.sqlLog) } : {});

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

/**
 * The readiness check of the database: one small committed write (a row in shared_kv that
 * expires), so that a full or read-only disk shows, not only a dead server. 'unwritable' also when
 * a real write failed for lack of storage in the last seconds (a bigger write than the probe's).
 */
export async function probeDatabase(db: Db, storage: StorageHealth, now: number): Promise<'ok' | 'down' | 'unwritable'> {
  try {
    await sql`/* readiness probe */ INSERT INTO shared_kv (key, count, value, expires_at)
      VALUES ('readyz:probe', 0, ${String(now)}, ${now + 60_000})
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`.execute(db);
  } catch (e) {
    return outageOf(e)?.code === 'STORAGE_UNAVAILABLE' ? 'unwritable' : 'down';
  }
  return storage.recentFailure() ? 'unwritable' : 'ok';
}
