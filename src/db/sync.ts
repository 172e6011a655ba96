/**
 * Statements run at once on SQLite inside a transaction (D463). better-sqlite3 runs a statement synchronously; Kysely
 * wraps each in a chain of promises (connection provider, driver, the wrappers of `outage.ts` and `sqlite-wait.ts`),
 * which in a busy server costs more than the statement itself. A writer that holds the transaction (the write lock,
 * BEGIN IMMEDIATE) and runs fixed statements of its own, the audit chain's append, runs them here instead: the same
 * kept statements, the same SQL log lines, the same storage-failure notes, without the promises.
 *
 * Only inside a transaction, through its connection: there no statement waits for a lock (sqlite-wait.ts), and the one
 * connection is the transaction's until it ends. Anywhere else (PostgreSQL, no transaction, a handle not opened by
 * `openDb`) `atOnce` gives null and the caller runs its statements through Kysely.
 */
import { CompiledQuery, type DialectAdapter, type Kysely, type LogEvent } from 'kysely';
import type SQLite from '@rocicorp/zero-sqlite3';
import type { Database } from './types.js';
import { outageOf } from './errors.js';
import type { StorageHealth } from './outage.js';

type Db = Kysely<Database>;

/** Runs one statement: a reader's rows, or none. */
export type SyncRunner = (text: string, params: readonly unknown[]) => unknown[];

interface Handle {
  file: SQLite.Database;
  health: StorageHealth;
  log: ((e: LogEvent) => void) | null;
}

/** A handle and the statements prepared for its runners (fixed texts of the code, so a bounded set). */
interface Registered extends Handle {
  statements: Map<string, SQLite.Statement>;
  runner: SyncRunner;
}

/** Runners are for the fixed statements of the code: a few texts; past this many, one is prepared at each run. */
const MAX_KEPT = 64;

/** Keyed by the adapter, which a Kysely instance shares with its transactions. */
const handles = new WeakMap<DialectAdapter, Registered>();

/** Makes `db`'s transactions able to run statements at once (called by `openDb` for SQLite). */
export function registerSync(db: Db, handle: Handle): void {
  const h: Registered = { ...handle, statements: new Map(), runner: (text, params) => runNow(h, text, params) };
  handles.set(db.getExecutor().adapter, h);
}

/**
 * Runs `fn` with a runner for `trx` when it is a transaction of a SQLite handle `openDb` opened, else gives null (the
 * caller goes through Kysely). `fn` runs through the transaction's own connection, as a statement of Kysely's would:
 * after the statements the transaction has already sent, and never once the transaction has ended (Kysely refuses an
 * ended transaction there: a kept or unawaited transaction object must not write into whichever transaction holds the
 * connection now).
 */
export function atOnce<T>(trx: Db, fn: (run: SyncRunner) => T): Promise<T> | null {
  if (!trx.isTransaction) return null;
  const h = handles.get(trx.getExecutor().adapter);
  if (!h) return null;
  return trx.getExecutor().provideConnection(async () => {
    if (!h.file.inTransaction) throw new Error('atOnce: the connection is not in a transaction');
    return fn(h.runner);
  });
}

function runNow(h: Registered, text: string, params: readonly unknown[]): unknown[] {
  const started = h.log ? performance.now() : 0;
  let rows: unknown[] = [];
  try {
    let stmt = h.statements.get(text);
    if (!stmt) {
      stmt = h.file.prepare(text);
      if (h.statements.size < MAX_KEPT) h.statements.set(text, stmt);
    }
    if (stmt.reader) rows = stmt.all(params) as unknown[];
    else stmt.run(params);
  } catch (e) {
    const o = outageOf(e);
    if (o?.code === 'STORAGE_UNAVAILABLE') h.health.noteFailure(o.reason);
    h.log?.({ level: 'error', error: e, query: CompiledQuery.raw(text, [...params]), queryDurationMillis: performance.now() - started });
    throw e;
  }
  h.log?.({ level: 'query', query: CompiledQuery.raw(text, [...params]), queryDurationMillis: performance.now() - started });
  return rows;
}
